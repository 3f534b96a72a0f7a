"""SimPO: -log sigmoid(beta * [logp_w/|y_w| - logp_l/|y_l|] - gamma), reference-free, no NLL term."""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, SequenceLogps, log_sigmoid
from redi.objectives.registry import register


@register(
    "simpo",
    needs_pairs=True,
    hyperparameters=(
        Hyperparameter("beta", 2.0, low=0.0, low_inclusive=False),  # scale of the length-normalised margin
        Hyperparameter("gamma", 1.0, low=0.0),  # target gap (the paper keeps gamma/beta = 0.5)
    ),
    label="SimPO",
)
def simpo_loss(
    policy: SequenceLogps, reference: SequenceLogps | None, beta: float, gamma: float
) -> ObjectiveOutput:
    """Length-normalised margin with a target gap gamma (the paper keeps gamma/beta = 0.5)."""
    reward_w = beta * policy.chosen_mean
    reward_l = beta * policy.rejected_mean
    return ObjectiveOutput.per_pair(-log_sigmoid(reward_w - reward_l - gamma), reward_w, reward_l)
