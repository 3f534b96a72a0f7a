"""Classify what ``model.base`` / ``model.init_from`` name (hub id, local directory, run directory, Trainer checkpoint).

Kept free of torch and transformers so the pre-flight (redi.validate) can check a config in a fraction of a
second, before any heavy import.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

from redi.model.hf_checkpoint import is_trainer_dir, resolve_trainer_dir
from redi.model.source import ModelSource, ModelSourceError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def resolve_source(value: str, key: str, tokenizer: str | None = None) -> ModelSource:
    """Classify a hub id / local directory / run directory, failing fast (naming ``key``) on a missing path.

    A run directory (holding status.json and model/) resolves to its model/ directory and must be completed; a
    Trainer checkpoint as redi.model.hf_checkpoint says (``tokenizer``: model.tokenizer, when set).
    """
    path = Path(os.path.expanduser(value))
    looks_local = value.startswith((".", "/", "~")) or path.exists() or not _HUB_ID.match(value)
    if not looks_local:
        from redi.infra.hub import hub_problem

        problem = hub_problem(value, key)  # cached, or the hub answers in seconds: else one clear line, now
        if problem:
            raise ModelSourceError(problem)
        return ModelSource("hub", value)
    if not path.exists():
        raise ModelSourceError(
            f"{key}: local path {value!r} does not exist (and it is not a hub id like org/name)"
        )
    if (path / "status.json").exists():
        try:
            status = json.loads((path / "status.json").read_text())
        except ValueError as e:
            raise ModelSourceError(f"{key}: {str(path / 'status.json')!r} is not valid JSON ({e})") from e
        if not (path / "model").is_dir():
            raise ModelSourceError(
                f"{key}: run directory {value!r} has no model/ (its state is {status.get('state')!r}); "
                "finish that run first"
            )
        path = path / "model"
    if is_trainer_dir(path):  # a Trainer checkpoint-N, its output directory, or a peft adapter checkpoint
        found = resolve_trainer_dir(path, key, tokenizer)
        if found.kind != "adapter":
            return found
        assert found.base is not None
        base = resolve_source(found.base, f"{key} (the adapter's base_model_name_or_path)")
        return replace(found, tokenizer=found.tokenizer or base.location, base=base.location)
    if not (path / "config.json").exists():
        raise ModelSourceError(f"{key}: {str(path)!r} is not a Hugging Face model directory (no config.json)")
    return ModelSource("dir", str(path.resolve()))
