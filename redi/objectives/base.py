"""The objective interface: pure functions of per-sequence summed log-probs and response lengths.

An objective maps a batch of :class:`SequenceLogps` (and the reference model's, when it needs them) to an
:class:`ObjectiveOutput`. The loss of a batch is ``losses.sum() / weights.sum()``; keeping the two apart lets the
training loop normalise by the *global* batch (all micro-batches and ranks), so accumulation and data parallelism
give the same gradient as one big batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


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

    def loss(self) -> torch.Tensor:
        """The batch loss: sum of terms over sum of weights (a scalar)."""
        return self.losses.sum() / self.weights.sum()


ObjectiveFn = Callable[..., ObjectiveOutput]


@dataclass(frozen=True)
class ObjectiveSpec:
    """A registered objective and what it needs from the training loop.

    hyperparameters: the root config keys it reads (alpha, beta, gamma); any other one set is a config error.
    weight_unit: what the weights count ("tokens" or "examples"), used to normalise over the global batch.
    """

    name: str
    fn: ObjectiveFn
    needs_pairs: bool
    needs_reference: bool
    hyperparameters: tuple[str, ...]
    weight_unit: str
    validate: Callable[..., None]
    description: str

    def __call__(
        self, policy: SequenceLogps, reference: SequenceLogps | None = None, **hyperparameters: float
    ) -> ObjectiveOutput:
        return self.fn(policy, reference, **hyperparameters)


class ObjectiveConfigError(ValueError):
    """A hyperparameter out of range or a key the objective does not use."""
