"""The paper's collapse as a rule: chosen and rejected log-probs falling together while accuracy drops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redi.config import CollapseConfig


@dataclass
class CollapseDetector:
    """Feed it every step's per-token log-probs and every evaluation's accuracy; it says when a run collapsed.

    Its state is part of the checkpoint, so a resumed run decides exactly as an uninterrupted one.
    """

    cfg: CollapseConfig
    first_chosen: list[float] = field(default_factory=list)
    first_rejected: list[float] = field(default_factory=list)
    recent_chosen: list[float] = field(default_factory=list)
    recent_rejected: list[float] = field(default_factory=list)
    best_accuracy: float | None = None
    last_accuracy: float | None = None
    collapsed_at: int | None = None
    reason: str = ""

    def observe_step(self, step: int, logps_chosen: float, logps_rejected: float | None) -> bool:
        """Record one step; True the first time the rule fires."""
        if not self.cfg.enabled or logps_rejected is None:
            return False
        w = self.cfg.window
        if len(self.first_chosen) < w:
            self.first_chosen.append(logps_chosen)
            self.first_rejected.append(logps_rejected)
        self.recent_chosen = (self.recent_chosen + [logps_chosen])[-w:]
        self.recent_rejected = (self.recent_rejected + [logps_rejected])[-w:]
        return self._check(step)

    def observe_eval(self, step: int, accuracy: float) -> bool:
        """Record an evaluation's accuracy; True the first time the rule fires."""
        self.last_accuracy = accuracy
        self.best_accuracy = accuracy if self.best_accuracy is None else max(self.best_accuracy, accuracy)
        return self._check(step)

    def _check(self, step: int) -> bool:
        if self.collapsed_at is not None or len(self.first_chosen) < self.cfg.window:
            return False
        if len(self.recent_chosen) < self.cfg.window:
            return False
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        drop_c = mean(self.first_chosen) - mean(self.recent_chosen)
        drop_r = mean(self.first_rejected) - mean(self.recent_rejected)
        if drop_c <= self.cfg.logp_drop or drop_r <= self.cfg.logp_drop:
            return False
        acc_note = ""
        if self.cfg.require_accuracy_drop:
            if self.best_accuracy is None or self.last_accuracy is None:
                return False
            if self.best_accuracy - self.last_accuracy <= self.cfg.accuracy_drop:
                return False
            acc_note = f", accuracy {self.last_accuracy:.3f} vs best {self.best_accuracy:.3f}"
        self.collapsed_at = step
        self.reason = (
            f"collapse at step {step}: chosen log-prob fell {drop_c:.2f} and rejected {drop_r:.2f} nats/token"
            f"{acc_note}"
        )
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "first_chosen",
                "first_rejected",
                "recent_chosen",
                "recent_rejected",
                "best_accuracy",
                "last_accuracy",
                "collapsed_at",
                "reason",
            )
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
