"""The paper's collapse as a rule, measured against the run's own start.

The paper calls a run collapsed on "a rapid decrease in the likelihood of both positive and negative responses,
accompanied by declining task accuracy". Two rules (``trainer.collapse.rule``):

- ``relative`` (the default): the chosen trace's log-loss (minus its mean per-token log-prob), averaged over the
  last ``window`` steps, is more than ``loss_ratio`` times its average over the first ``window`` steps, and the
  latest evaluation is more than ``accuracy_drop`` below the best one so far (step 0 included). Scale-free: it
  reads the same on the tiny model (chosen log-loss near 0.06 nats/token at the start) as on the paper's 1.5B
  (near 0.35).
- ``absolute``: both per-token log-probs more than ``logp_drop`` nats below their start averages, and the same
  accuracy condition. A fixed threshold in nats only fits the scale it was chosen for.

``require_accuracy_drop=false`` drops the accuracy condition from either rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redi.config import CollapseConfig

RULES = ("relative", "absolute")


def validate_collapse_config(cfg: CollapseConfig) -> None:
    """Raise ValueError naming the ``trainer.collapse`` key whose value cannot work."""
    if cfg.rule not in RULES:
        raise ValueError(f"trainer.collapse.rule={cfg.rule!r}: expected one of {', '.join(RULES)}")
    if cfg.window < 1:
        raise ValueError(f"trainer.collapse.window={cfg.window}: must be >= 1")
    if cfg.loss_ratio <= 1.0:
        raise ValueError(
            f"trainer.collapse.loss_ratio={cfg.loss_ratio}: must be > 1 (a multiple of the start's log-loss)"
        )
    if cfg.accuracy_drop < 0:
        raise ValueError(f"trainer.collapse.accuracy_drop={cfg.accuracy_drop}: must be >= 0")
    if cfg.logp_drop <= 0:
        raise ValueError(f"trainer.collapse.logp_drop={cfg.logp_drop}: must be > 0")


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


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
    max_loss_ratio: float | None = None
    collapsed_at: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        validate_collapse_config(self.cfg)

    @property
    def needs_rejected(self) -> bool:
        return self.cfg.rule == "absolute"

    def observe_step(self, step: int, logps_chosen: float, logps_rejected: float | None) -> bool:
        """Record one step's mean per-token log-probs (train/logps_*_per_token); True the first time it fires."""
        if not self.cfg.enabled or (self.needs_rejected and logps_rejected is None):
            return False
        w = self.cfg.window
        rejected = logps_rejected if logps_rejected is not None else float("nan")
        if len(self.first_chosen) < w:
            self.first_chosen.append(logps_chosen)
            self.first_rejected.append(rejected)
        self.recent_chosen = (self.recent_chosen + [logps_chosen])[-w:]
        self.recent_rejected = (self.recent_rejected + [rejected])[-w:]
        ratio = self.loss_ratio()
        if ratio is not None:
            self.max_loss_ratio = ratio if self.max_loss_ratio is None else max(self.max_loss_ratio, ratio)
        return self._check(step)

    def observe_eval(self, step: int, accuracy: float) -> bool:
        """Record an evaluation's accuracy; True the first time the rule fires."""
        if not self.cfg.enabled:
            return False
        self.last_accuracy = accuracy
        self.best_accuracy = accuracy if self.best_accuracy is None else max(self.best_accuracy, accuracy)
        return self._check(step)

    def loss_ratio(self) -> float | None:
        """Chosen log-loss over the last window / over the first window (None until both windows are full)."""
        w = self.cfg.window
        if len(self.first_chosen) < w or len(self.recent_chosen) < w:
            return None
        start = -_mean(self.first_chosen)
        now = -_mean(self.recent_chosen)
        if start <= 0:  # a start with (numerically) no loss: any loss at all is infinitely many times it
            return float("inf") if now > 0 else 1.0
        return now / start

    def accuracy_below_peak(self) -> float | None:
        if self.best_accuracy is None or self.last_accuracy is None:
            return None
        return self.best_accuracy - self.last_accuracy

    def _likelihood_condition(self) -> str | None:
        """A description of the likelihood fall when the rule's likelihood condition holds, else None."""
        if self.cfg.rule == "relative":
            ratio = self.loss_ratio()
            if ratio is None or ratio <= self.cfg.loss_ratio:
                return None
            return (
                f"chosen log-loss {-_mean(self.recent_chosen):.3f} nats/token is {ratio:.2f}x its start "
                f"{-_mean(self.first_chosen):.3f} (limit {self.cfg.loss_ratio:g}x)"
            )
        w = self.cfg.window
        if len(self.first_chosen) < w or len(self.recent_chosen) < w:
            return None
        drop_c = _mean(self.first_chosen) - _mean(self.recent_chosen)
        drop_r = _mean(self.first_rejected) - _mean(self.recent_rejected)
        if not (drop_c > self.cfg.logp_drop and drop_r > self.cfg.logp_drop):
            return None
        return f"chosen log-prob fell {drop_c:.2f} and rejected {drop_r:.2f} nats/token"

    def _check(self, step: int) -> bool:
        if self.collapsed_at is not None:
            return False
        likelihood = self._likelihood_condition()
        if likelihood is None:
            return False
        acc_note = ""
        if self.cfg.require_accuracy_drop:
            below = self.accuracy_below_peak()
            if below is None or below <= self.cfg.accuracy_drop:
                return False
            acc_note = (
                f", accuracy {self.last_accuracy:.3f} is {below:.3f} below its peak {self.best_accuracy:.3f}"
            )
        self.collapsed_at = step
        self.reason = f"collapse at step {step} ({self.cfg.rule} rule): {likelihood}{acc_note}"
        return True

    def summary(self) -> dict[str, Any]:
        """What status.json and the W&B summary record: the rule, whether and when it fired, how close it came."""
        return {
            "collapse_rule": self.cfg.rule if self.cfg.enabled else "off",
            "collapsed": self.collapsed_at is not None,
            "collapse_step": self.collapsed_at,
            "collapse_reason": self.reason,
            "collapse_loss_ratio": self.loss_ratio(),
            "collapse_max_loss_ratio": self.max_loss_ratio,
            "collapse_accuracy_below_peak": self.accuracy_below_peak(),
        }

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
                "max_loss_ratio",
                "collapsed_at",
                "reason",
            )
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
