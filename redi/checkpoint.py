"""Checkpoints for exact resume: model, optimizer, scheduler, RNG states and loop state, written atomically.

Layout: checkpoints/step_N/ (complete, written to a temporary directory first, then renamed) and
checkpoints/latest (a one-line file naming the newest complete step directory, replaced atomically). A crash
while writing leaves the previous checkpoint and ``latest`` untouched.
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

from redi.status import atomic_write_text


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
    """Write checkpoints/step_<step>/ atomically, point ``latest`` at it, and prune to the newest ``keep``."""
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
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    atomic_write_text(directory / "latest", target.name + "\n")
    steps = sorted((int(p.name.split("_")[1]) for p in directory.glob("step_*") if p.is_dir()), reverse=True)
    for old in steps[max(keep, 1) :]:
        shutil.rmtree(directory / f"step_{old}", ignore_errors=True)
    for stale in directory.glob(".step_*"):
        shutil.rmtree(stale, ignore_errors=True)
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
