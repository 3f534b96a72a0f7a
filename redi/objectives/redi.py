"""REDI: -logp_w/|y_w| + alpha * logp_l/|y_l| (alpha = 1: the symmetric objective; alpha = 0: SFT on positives)."""

from __future__ import annotations

import torch

from redi.objectives.base import ObjectiveOutput, SequenceLogps
from redi.objectives.registry import register, require_range


def _validate(alpha: float) -> None:
    require_range("alpha", alpha, low=0.0, high=1.0)


@register("redi", needs_pairs=True, hyperparameters=("alpha",), validate=_validate)
def redi_loss(policy: SequenceLogps, reference: SequenceLogps | None, alpha: float) -> ObjectiveOutput:
    """Asymmetric, reference-free: pull the correct trace up, push the incorrect one down with weight alpha."""
    reward_w = policy.chosen_mean
    reward_l = policy.rejected_mean
    losses = -reward_w + alpha * reward_l
    return ObjectiveOutput(
        losses=losses, weights=torch.ones_like(losses), rewards_chosen=reward_w, rewards_rejected=reward_l
    )
