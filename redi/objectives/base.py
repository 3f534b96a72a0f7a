"""The objective interface: pure functions of per-sequence summed log-probs and response lengths.

An objective maps a batch of :class:`SequenceLogps` (and the reference model's, when it needs them) to an
:class:`ObjectiveOutput`. The loss of a batch is ``losses.sum() / weights.sum()``; the training loop sums both over
the *global* batch (all micro-batches and ranks), so accumulation and data parallelism give the gradient of one
big batch and the trained loss is exactly :meth:`ObjectiveOutput.loss`.

An objective declares itself (:class:`ObjectiveSpec`): its hyperparameters with defaults and ranges (root config
keys, so sweeps read as in the paper), whether it needs pairs and a reference model, and how analysis names it.
The config schema, the root-key checks, W&B tags and analysis labels read these declarations. This module and the
objective modules import torch only when a loss is computed, so a config can be checked before torch loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class ObjectiveConfigError(ValueError):
    """An unknown objective, or a hyperparameter out of its declared range (redi.validate.check_hyperparameters)."""


@dataclass(frozen=True)
class SequenceLogps:
    """Summed response log-probs and response lengths of a batch of B examples.

    chosen_logps, chosen_lengths: (B,) for y_w (the correct trace); lengths count the EOS token and are >= 1.
    rejected_logps, rejected_lengths: (B,) for y_l, or None for objectives trained on single sequences.
    """

    chosen_logps: torch.Tensor
    chosen_lengths: torch.Tensor
    rejected_logps: torch.Tensor | None = None
    rejected_lengths: torch.Tensor | None = None

    @property
    def chosen_mean(self) -> torch.Tensor:
        """(B,) mean per-token log-prob of y_w."""
        return self.chosen_logps / self.chosen_lengths.clamp(min=1)

    @property
    def rejected_mean(self) -> torch.Tensor:
        """(B,) mean per-token log-prob of y_l."""
        if self.rejected_logps is None or self.rejected_lengths is None:
            raise ValueError("this batch has no rejected sequences")
        return self.rejected_logps / self.rejected_lengths.clamp(min=1)


@dataclass(frozen=True)
class ObjectiveOutput:
    """Per-example loss terms and weights; rewards (implicit, objective-specific) for margin and accuracy.

    losses, weights: (B,); the batch loss is losses.sum() / weights.sum().
    rewards_chosen, rewards_rejected: (B,) or None (SFT has no pairs).
    """

    losses: torch.Tensor
    weights: torch.Tensor
    rewards_chosen: torch.Tensor | None = None
    rewards_rejected: torch.Tensor | None = None

    @classmethod
    def per_pair(
        cls, losses: torch.Tensor, reward_w: torch.Tensor, reward_l: torch.Tensor
    ) -> ObjectiveOutput:
        """Every pair weighs the same: the batch loss is the mean of ``losses``."""
        return cls(losses, losses.new_ones(losses.shape), reward_w, reward_l)

    def loss(self) -> torch.Tensor:
        """The batch loss: sum of terms over sum of weights (a scalar)."""
        return self.losses.sum() / self.weights.sum()


def log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """log sigmoid(x), computed stably (torch.nn.functional.logsigmoid)."""
    import torch.nn.functional as F

    return F.logsigmoid(x)


@dataclass(frozen=True)
class Hyperparameter:
    """A root config key an objective reads: its default and the range a value must fall in ([low, high]; the low
    end open when not ``low_inclusive``). The pre-flight checks the range (redi.validate)."""

    name: str
    default: float
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True


@dataclass(frozen=True)
class Option:
    """A choice an objective offers besides its hyperparameters: ``objective.<name>``, one of ``choices`` (the first
    is the default), passed to the loss as a keyword."""

    name: str
    choices: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.choices[0]


ObjectiveFn = Callable[..., ObjectiveOutput]


@dataclass(frozen=True)
class ObjectiveSpec:
    """A registered objective: its loss and what it needs from the run.

    params: its hyperparameters (root config keys); any other root key set is a config error.
    options: its choices under ``objective.*`` (e.g. IPO's ``objective.logps``).
    label: how figures and tables name it (the paper's spelling).
    """

    name: str
    fn: ObjectiveFn
    needs_pairs: bool
    needs_reference: bool
    params: tuple[Hyperparameter, ...]
    label: str
    options: tuple[Option, ...] = ()

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """The names of the root keys it reads."""
        return tuple(p.name for p in self.params)

    def __call__(
        self, policy: SequenceLogps, reference: SequenceLogps | None = None, **hyperparameters: float
    ) -> ObjectiveOutput:
        return self.fn(policy, reference, **hyperparameters)
