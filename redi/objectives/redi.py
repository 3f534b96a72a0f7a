"""REDI: -logp_w/|y_w| + alpha * logp_l/|y_l| (alpha = 1: the symmetric objective; alpha = 0: SFT on positives)."""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, SequenceLogps
from redi.objectives.registry import register

ALPHA = Hyperparameter("alpha", 0.8, low=0.0, high=1.0)  # weight of the push-down on the incorrect trace


@register("redi", needs_pairs=True, hyperparameters=(ALPHA,), label="REDI")
def redi_loss(policy: SequenceLogps, reference: SequenceLogps | None, alpha: float) -> ObjectiveOutput:
    """Asymmetric, reference-free: pull the correct trace up, push the incorrect one down with weight alpha."""
    reward_w = policy.chosen_mean
    reward_l = policy.rejected_mean
    return ObjectiveOutput.per_pair(-reward_w + alpha * reward_l, reward_w, reward_l)
