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
_STEP_DIR = re.compile(r"^step_\d+$")
CHECKPOINT_WEIGHTS = "model.safetensors"  # redi.infra.checkpoint.MODEL_FILE (that module imports torch)


def checkpoint_run(path: Path) -> Path | None:
    """The run directory of a redi checkpoint ``<run>/checkpoints/step_N`` (the run's .hydra/config.yaml beside it)."""
    path = Path(path)
    if _STEP_DIR.match(path.name) and path.parent.name == "checkpoints":
        run_dir = path.parent.parent
        if (run_dir / ".hydra" / "config.yaml").is_file():
            return run_dir
    return None


def source_run(value: str | None) -> Path | None:
    """The redi run directory ``model.init_from`` names: the run itself or one of its checkpoints (else None)."""
    if not value or value == "stage1":
        return None
    path = Path(os.path.expanduser(value))
    if (path / "status.json").is_file() and (path / ".hydra" / "config.yaml").is_file():
        return path
    return checkpoint_run(path)


def _checkpoint_source(path: Path, value: str, key: str) -> ModelSource:
    """A redi checkpoint directory as a source; a sharded or unfinished one is named (its files are checked at load)."""
    if (path / "dcp").is_dir():
        raise ModelSourceError(
            f"{key}: {value!r} is a sharded (trainer.distributed=fsdp) checkpoint, which only its run resumes from; "
            "evaluate the run's model/ when it ends"
        )
    if not (path / CHECKPOINT_WEIGHTS).is_file() or not (path / "manifest.json").is_file():
        raise ModelSourceError(f"{key}: checkpoint {value!r} is incomplete (its write did not finish)")
    return ModelSource("checkpoint", str(path.resolve()))


def _newest_checkpoint_hint(run_dir: Path, value: str, key: str) -> str:
    steps = [int(p.name[5:]) for p in (run_dir / "checkpoints").glob("step_*") if _STEP_DIR.match(p.name)]
    if not steps:
        return "finish that run first"
    return f"finish that run first, or evaluate a checkpoint: {key}={value.rstrip('/')}/checkpoints/step_{max(steps)}"


def resolve_source(value: str, key: str, tokenizer: str | None = None) -> ModelSource:
    """Classify a hub id / local directory / run directory, failing fast (naming ``key``) on a missing path.

    A run directory (holding status.json and model/) resolves to its model/ directory and must be completed; one of
    its checkpoints (``<run>/checkpoints/step_N``) to a "checkpoint" source; a Trainer checkpoint as
    redi.model.hf_checkpoint says (``tokenizer``: model.tokenizer, when set).
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
    if checkpoint_run(path) is not None:
        return _checkpoint_source(path, value, key)
    if (path / "status.json").exists():
        try:
            status = json.loads((path / "status.json").read_text())
        except ValueError as e:
            raise ModelSourceError(f"{key}: {str(path / 'status.json')!r} is not valid JSON ({e})") from e
        if not (path / "model").is_dir():
            raise ModelSourceError(
                f"{key}: run directory {value!r} has no model/ (its state is {status.get('state')!r}); "
                + _newest_checkpoint_hint(path, value, key)
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
