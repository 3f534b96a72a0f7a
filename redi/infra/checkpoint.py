"""Checkpoints for exact resume: model, optimizer, scheduler, RNG states and loop state, written atomically.

Layout: checkpoints/step_N/ (complete, written to a temporary directory first, then renamed) and
checkpoints/latest (a one-line file naming the newest complete step directory, replaced atomically). A crash
while writing leaves the previous checkpoint and ``latest`` untouched.

A model sharded with FSDP2 is saved by every rank with torch.distributed.checkpoint (step_N/dcp/: model and
optimizer shards, re-shardable), one RNG file per rank, and the rest once by rank 0; it resumes on the same world size.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from redi.infra.distributed import is_sharded
from redi.infra.status import atomic_write_text


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
    save_file(_model_state(model), str(tmp / "model.safetensors"))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            "loop": loop_state,
            "step": step,
        },
        tmp / "trainer_state.pt",
    )
    _publish(directory, tmp, target, keep)
    return target


def _publish(directory: Path, tmp: Path, target: Path, keep: int) -> None:
    """Rename the complete ``tmp`` to ``target``, point ``latest`` at it, prune to ``keep``, drop stale temps."""
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    atomic_write_text(directory / "latest", target.name + "\n")
    steps = sorted((int(p.name.split("_")[1]) for p in directory.glob("step_*") if p.is_dir()), reverse=True)
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
    torch.save(rng_state(), tmp / f"rng_rank{rank}.pt")
    dist.barrier()
    if rank == 0:
        torch.save(
            {"scheduler": scheduler.state_dict(), "loop": loop_state, "step": step, "world_size": world},
            tmp / "trainer_state.pt",
        )
        _publish(directory, tmp, target, keep)
    dist.barrier()
    return target


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint directory, or None."""
    pointer = Path(directory) / "latest"
    if not pointer.exists():
        return None
    target = Path(directory) / pointer.read_text().strip()
    if not (target / "trainer_state.pt").exists():
        raise RuntimeError(
            f"{pointer} names {target.name}, which is incomplete: the checkpoint folder was changed by hand"
        )
    return target


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG from ``path``; returns the loop state (with "step")."""
    if is_sharded(model):
        return _load_sharded(Path(path), model, optimizer, scheduler)
    unwrapped = getattr(model, "module", model)
    weights = load_file(
        str(Path(path) / "model.safetensors"), device=str(next(unwrapped.parameters()).device)
    )
    unwrapped.load_state_dict(weights)
    state = torch.load(Path(path) / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return {**state["loop"], "step": state["step"]}


def _load_sharded(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Every rank reads its shards and its RNG state; the checkpoint must come from the same world size."""
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    state = torch.load(path / "trainer_state.pt", weights_only=False)
    if "world_size" not in state or not (path / "dcp").is_dir():
        raise RuntimeError(f"{path} is not a sharded checkpoint: resume with the same trainer.distributed")
    if state["world_size"] != dist.get_world_size():
        raise RuntimeError(
            f"{path} was saved by {state['world_size']} processes; resume it with the same world size "
            f"(this run has {dist.get_world_size()})"
        )
    model_state, optim_state = get_state_dict(model, optimizer)
    shards = {"model": model_state, "optimizer": optim_state}
    dcp.load(shards, checkpoint_id=str(path / "dcp"))
    set_state_dict(model, optimizer, model_state_dict=shards["model"], optim_state_dict=shards["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(torch.load(path / f"rng_rank{dist.get_rank()}.pt", weights_only=False))
    return {**state["loop"], "step": state["step"]}
