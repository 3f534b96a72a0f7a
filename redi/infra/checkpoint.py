"""Checkpoints for exact resume: model, optimizer, scheduler, RNG states and loop state, written atomically.

Layout: checkpoints/step_N/ (complete, written to a temporary directory first, then renamed) and
checkpoints/latest (a one-line file naming the newest complete step directory, replaced atomically). A crash
while writing leaves the previous checkpoint and ``latest`` untouched. step_N/ holds model.safetensors,
trainer_state.json + trainer_state.safetensors (optimizer, scheduler, RNG, loop state: no pickle) and, written
last, manifest.json (every file's size and sha256): a checkpoint without it, or whose files differ from it, is
skipped with a warning and the newest intact one is used.

A model sharded with FSDP2 is saved by every rank with torch.distributed.checkpoint (step_N/dcp/: model and
optimizer shards, re-shardable), one RNG file per rank, and the rest once by rank 0; it resumes on the same world size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from redi.infra.distributed import is_sharded
from redi.infra.state_io import check_dcp_metadata, load_state, save_state, write_tensors
from redi.infra.status import atomic_write_text

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 2  # 2: trainer state as JSON + safetensors with a manifest; 1: trainer_state.pt (pickle)
MODEL_FILE = "model.safetensors"
TRAINER_STATE = "trainer_state"  # .json + .safetensors
MANIFEST = "manifest.json"
# what a format-1 trainer_state.pt needs beyond tensors and containers: numpy's RNG state array
_LEGACY_SAFE = [np.ndarray, np.dtype, np.dtypes.UInt32DType, np._core.multiarray._reconstruct]


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous, de-aliased tensors (tied embeddings are stored once by safetensors' rules: keep both copies)."""
    unwrapped = getattr(model, "module", model)
    return {k: v.detach().contiguous().clone() for k, v in unwrapped.state_dict().items()}


def save_checkpoint(
    directory: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loop_state: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoints/step_<step>/ atomically, point ``latest`` at it, and prune to the newest ``keep``.

    A sharded model is saved collectively: every rank must call this (the others only rank 0).
    """
    if is_sharded(model):
        return _save_sharded(Path(directory), step, model, optimizer, scheduler, loop_state, keep)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"step_{step}"
    tmp = Path(tempfile.mkdtemp(prefix=f".step_{step}.", dir=directory))
    try:
        write_tensors(_model_state(model), tmp / MODEL_FILE)
        trainer_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            "loop": loop_state,
            "step": step,
        }
        save_state(tmp / TRAINER_STATE, trainer_state)
        write_manifest(tmp, step)
        _publish(directory, tmp, target, keep)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk must not leave half a checkpoint behind
        raise
    return target


def _publish(directory: Path, tmp: Path, target: Path, keep: int) -> None:
    """Rename the complete ``tmp`` to ``target``, point ``latest`` at it, prune to ``keep``, drop stale temps."""
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    atomic_write_text(directory / "latest", target.name + "\n")
    steps = sorted(_step_dirs(directory), reverse=True)
    for old in steps[max(keep, 1) :]:
        shutil.rmtree(directory / f"step_{old}", ignore_errors=True)
    for stale in directory.glob(".step_*"):
        shutil.rmtree(stale, ignore_errors=True)


def _save_sharded(
    directory: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loop_state: dict[str, Any],
    keep: int,
) -> Path:
    """Every rank writes its shards (torch.distributed.checkpoint) and RNG; rank 0 the rest, then publishes."""
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    rank, world = dist.get_rank(), dist.get_world_size()
    target = directory / f"step_{step}"
    tmp = directory / f".step_{step}.partial"  # the same path on every rank
    if rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    dist.barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=str(tmp / "dcp"))
    save_state(tmp / f"rng_rank{rank}", rng_state())
    dist.barrier()
    if rank == 0:
        save_state(
            tmp / TRAINER_STATE,
            {"scheduler": scheduler.state_dict(), "loop": loop_state, "step": step, "world_size": world},
        )
        write_manifest(tmp, step)
        _publish(directory, tmp, target, keep)
    dist.barrier()
    return target


# ---------------------------------------------------------------------------------------------------------------
# integrity: a manifest written last (the completion marker) with every file's size and sha256


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
        os.fsync(f.fileno())  # the bytes are on disk before the manifest says they are
    return h.hexdigest()


def write_manifest(directory: Path, step: int) -> None:
    """List every file of the checkpoint with its size and sha256; written last, so its presence means complete."""
    files = {
        str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    doc = {"format": CHECKPOINT_FORMAT, "step": step, "files": files}
    atomic_write_text(directory / MANIFEST, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint directory ``path`` cannot be used (missing marker, a file missing, cut or changed), or None."""
    path = Path(path)
    manifest = path / MANIFEST
    if not manifest.is_file():
        if (path / "trainer_state.pt").is_file() and (path / MODEL_FILE).is_file():
            return _legacy_problem(
                path / "trainer_state.pt"
            )  # format 1 (published by rename, no manifest yet)
        return f"no {MANIFEST} (its write did not finish)"
    try:
        doc = json.loads(manifest.read_text())
        files = doc["files"]
        step = int(doc["step"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        return f"{MANIFEST} is unreadable ({type(e).__name__}: {e})"
    if f"step_{step}" != path.name:
        return f"{MANIFEST} is for step {step}"
    for name, meta in files.items():
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        size = f.stat().st_size
        if size != meta["bytes"]:
            return f"{name} has {size} bytes, {meta['bytes']} were written"
        if _sha256(f) != meta["sha256"]:
            return f"{name} does not match its sha256 (changed or corrupted after it was written)"
    return None


def _legacy_problem(path: Path) -> str | None:
    """Why a format-1 trainer_state.pt cannot be used: a pickle with code or types outside the allow-list
    (refused by torch's weights-only unpickler, so nothing in it runs) or an unreadable file; None when it loads."""
    try:
        _load_legacy(path)
    except pickle.UnpicklingError as e:
        refused = re.search(r"GLOBAL (\S+)", str(e))
        what = f"GLOBAL {refused.group(1)}" if refused else "types outside the allow-list"
        return f"{path.name} is refused: its pickle asks for {what} (nothing in it was run)"
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        return f"{path.name} is unreadable ({type(e).__name__}: {str(e)[:120]})"
    return None


def _load_legacy(path: Path) -> Any:
    """A format-1 state file, read with torch's weights-only unpickler (numpy RNG arrays allowed), never pickle."""
    with torch.serialization.safe_globals(_LEGACY_SAFE):
        return torch.load(path, weights_only=True)


def _step_dirs(directory: Path) -> list[int]:
    steps = []
    for p in Path(directory).glob("step_*"):
        suffix = p.name[len("step_") :]
        if p.is_dir() and suffix.isdigit():
            steps.append(int(suffix))
    return steps


def resume_step(directory: Path) -> int:
    """The step a run in this checkpoint directory resumes from (-1: no intact checkpoint, start over)."""
    previous = log.disabled
    log.disabled = True  # latest_checkpoint warns again when the loop resumes: one warning per fault
    try:
        chosen = latest_checkpoint(directory)
    finally:
        log.disabled = previous
    return int(chosen.name.split("_")[1]) if chosen is not None else -1


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest intact checkpoint directory, or None; damaged newer ones are named in one warning.

    ``latest`` is only a hint: every step_N directory is a candidate, newest first, so a deleted or stale pointer
    never hides an intact checkpoint.
    """
    directory = Path(directory)
    damaged: list[str] = []
    chosen = None
    for step in sorted(_step_dirs(directory), reverse=True):
        problem = checkpoint_problem(directory / f"step_{step}")
        if problem is None:
            chosen = directory / f"step_{step}"
            break
        damaged.append(f"{directory / f'step_{step}'}: {problem}")
    pointer = directory / "latest"
    if chosen is not None and not damaged:
        named = pointer.read_text().strip() if pointer.is_file() else None
        if named != chosen.name:
            said = f"names {named}" if named is not None else "is missing"
            log.warning("%s %s; resuming from %s, the newest intact checkpoint", pointer, said, chosen)
    if damaged:
        log.warning(
            "damaged checkpoint(s) skipped: %s; %s",
            "; ".join(damaged),
            f"resuming from {chosen}, the newest intact one"
            if chosen
            else "no intact checkpoint: starting over",
        )
    return chosen


# ---------------------------------------------------------------------------------------------------------------
# load


class CheckpointError(RuntimeError):
    """An intact checkpoint that does not fit this run (another model shape, world size); names the file."""


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG from ``path``; returns the loop state (with "step")."""
    path = Path(path)
    if is_sharded(model):
        return _load_sharded(path, model, optimizer, scheduler)
    unwrapped = getattr(model, "module", model)
    weights = load_file(str(path / MODEL_FILE), device=str(next(unwrapped.parameters()).device))
    state = _trainer_state(path)
    try:
        unwrapped.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} does not fit this run: {type(e).__name__}: {e}") from e
    return {**state["loop"], "step": state["step"]}


def _trainer_state(path: Path) -> dict[str, Any]:
    if (path / f"{TRAINER_STATE}.json").is_file():
        return load_state(path / TRAINER_STATE)
    return _load_legacy(path / "trainer_state.pt")  # a checkpoint written before format 2


def _load_sharded(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Every rank reads its shards and its RNG state; the checkpoint must come from the same world size."""
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    state = _trainer_state(path)
    if "world_size" not in state or not (path / "dcp").is_dir():
        raise CheckpointError(f"{path} is not a sharded checkpoint: resume with the same trainer.distributed")
    if state["world_size"] != dist.get_world_size():
        raise CheckpointError(
            f"{path} was saved by {state['world_size']} processes; resume it with the same world size "
            f"(this run has {dist.get_world_size()})"
        )
    check_dcp_metadata(path / "dcp" / ".metadata")
    model_state, optim_state = get_state_dict(model, optimizer)
    shards = {"model": model_state, "optimizer": optim_state}
    dcp.load(shards, checkpoint_id=str(path / "dcp"))
    set_state_dict(model, optimizer, model_state_dict=shards["model"], optim_state_dict=shards["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rank = dist.get_rank()
    if (path / f"rng_rank{rank}.json").is_file():
        set_rng_state(load_state(path / f"rng_rank{rank}"))
    else:
        set_rng_state(_load_legacy(path / f"rng_rank{rank}.pt"))
    return {**state["loop"], "step": state["step"]}
