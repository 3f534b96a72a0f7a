"""TrainState: everything the next step depends on, saved in a checkpoint and restored from it (Lingua's model).

Weights, optimizer, scheduler and RNG go through redi.infra.checkpoint; the loop's own counters (step, collapse
detector, the latest and the starting evaluation) are ``state_dict()``, stored as the checkpoint's loop state.
A run resumed from step k therefore ends with the same metrics as one that never stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from redi.infra.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from redi.infra.distributed import is_sharded
from redi.loop.collapse import CollapseDetector

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """The model being trained, its optimizer and schedule, and the loop's counters."""

    model: torch.nn.Module  # possibly DDP- or FSDP-wrapped
    optimizer: torch.optim.Optimizer
    scheduler: Any
    detector: CollapseDetector
    step: int = 0
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the latest evaluation
    start_metrics: dict[str, float] = field(default_factory=dict)  # the evaluation at step 0, if any
    last_eval_step: int = -1  # not saved: a resumed run evaluates at its end even if it did at its last save

    def state_dict(self) -> dict[str, Any]:
        """The loop's own state (the checkpoint stores ``step`` beside it)."""
        return {
            "collapse": self.detector.state_dict(),
            "eval_metrics": dict(self.eval_metrics),
            "start_metrics": dict(self.start_metrics),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from what ``load_checkpoint`` returns (the loop state and ``step``)."""
        self.step = state["step"]
        self.detector.load_state_dict(state["collapse"])
        self.eval_metrics = state.get("eval_metrics", {})
        self.start_metrics = state.get("start_metrics", {})

    def save(self, directory: Path, keep: int, is_main: bool) -> None:
        """Checkpoint at the current step: rank 0 writes it (every rank its shards when the model is sharded)."""
        if is_main or is_sharded(self.model):
            save_checkpoint(
                directory, self.step, self.model, self.optimizer, self.scheduler, self.state_dict(), keep
            )

    def resume(self, directory: Path, total_steps: int) -> bool:
        """Load the newest checkpoint in ``directory`` if there is one; True when it did."""
        path = latest_checkpoint(directory)
        if path is None:
            return False
        self.load_state_dict(load_checkpoint(path, self.model, self.optimizer, self.scheduler))
        log.info("resumed from %s at step %d of %d", path, self.step, total_steps)
        return True
