"""Hugging Face Trainer checkpoints as a starting model (``model.init_from`` / ``model.base``).

A Trainer writes ``<output_dir>/checkpoint-N/`` with the model's weights and config, ``trainer_state.json``,
and pickled optimizer / scheduler / RNG / training-argument files; the tokenizer only when the Trainer was given
one (else it is usually in ``<output_dir>``). A peft Trainer writes the adapter alone (adapter_config.json,
adapter_model.safetensors) in place of the weights. This module accepts:

- ``checkpoint-N`` itself: its weights; the tokenizer from it, else from its parent, else ``model.tokenizer``;
- the Trainer's ``output_dir`` holding no model of its own: its latest ``checkpoint-N`` (highest N);
- an adapter checkpoint: the adapter's base (``base_model_name_or_path``) with the adapter merged into it.

Only weights (safetensors, or a .bin through transformers' weights-only loader), configs and the tokenizer are
read; the pickled optimizer, scheduler, RNG and training-argument files are never loaded (the run starts a new
optimizer, as any ``init_from`` does).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from redi.model.source import ModelSource, ModelSourceError

log = logging.getLogger(__name__)
TRAINER_STATE = "trainer_state.json"
ADAPTER_CONFIG = "adapter_config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(output_dir: Path) -> list[Path]:
    """The ``checkpoint-N`` subdirectories of a Trainer output directory, by increasing N."""
    found = [
        (int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def _has_tokenizer(path: Path) -> bool:
    return any((path / name).is_file() for name in TOKENIZER_FILES)


def _step(path: Path) -> str:
    try:
        state = json.loads((path / TRAINER_STATE).read_text())
        return f"global_step {state.get('global_step')}, epoch {state.get('epoch')}"
    except (OSError, ValueError):
        return "no readable trainer_state.json"


def is_trainer_dir(path: Path) -> bool:
    """Whether ``path`` is a Trainer checkpoint or a Trainer output directory holding checkpoints."""
    if not path.is_dir():
        return False
    if (path / TRAINER_STATE).is_file() or (path / ADAPTER_CONFIG).is_file():
        return True
    return not (path / "config.json").is_file() and bool(checkpoints(path))


def resolve_trainer_dir(path: Path, key: str, tokenizer: str | None) -> ModelSource:
    """A ModelSource for a Trainer checkpoint / output directory / adapter checkpoint (see the module docstring).

    ``tokenizer`` is ``model.tokenizer`` (it wins when set). Raises ModelSourceError naming ``key`` when the
    directory has no weights or no tokenizer can be found. An adapter's ``base`` is its base_model_name_or_path as
    written (redi.model.resolve resolves it, and takes the base's tokenizer when the adapter has none).
    """
    if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        found = checkpoints(path)
        if not found:
            raise ModelSourceError(f"{key}: {str(path)!r} has no config.json, adapter and no checkpoint-N")
        log.info(
            "%s: %s is a Trainer output directory; using its latest checkpoint %s", key, path, found[-1].name
        )
        path = found[-1]
    tok = tokenizer or next((str(p) for p in (path, path.parent) if _has_tokenizer(p)), None)
    if (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file():
        adapter = json.loads((path / ADAPTER_CONFIG).read_text())
        base_id = adapter.get("base_model_name_or_path")
        if not base_id:
            raise ModelSourceError(f"{key}: {path / ADAPTER_CONFIG} names no base_model_name_or_path")
        log.info("%s: LoRA adapter checkpoint %s (%s) on %s, merged at load", key, path, _step(path), base_id)
        return ModelSource("adapter", str(path.resolve()), tokenizer=tok, base=str(base_id))
    if tok is None:
        raise ModelSourceError(
            f"{key}: Trainer checkpoint {str(path)!r} has no tokenizer (nor has {str(path.parent)!r}); "
            "set model.tokenizer=<the tokenizer's directory or hub id>"
        )
    log.info("%s: Trainer checkpoint %s (%s)", key, path, _step(path))
    return ModelSource("dir", str(path.resolve()), tokenizer=tok)
