"""SimPO: -log sigmoid(beta * [logp_w/|y_w| - logp_l/|y_l|] - gamma), reference-free, no NLL term."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from redi.objectives.base import ObjectiveOutput, SequenceLogps
from redi.objectives.registry import register, require_range


def _validate(beta: float, gamma: float) -> None:
    require_range("beta", beta, low=0.0, low_inclusive=False)
    require_range("gamma", gamma, low=0.0)


@register("simpo", needs_pairs=True, hyperparameters=("beta", "gamma"), validate=_validate)
def simpo_loss(
    policy: SequenceLogps, reference: SequenceLogps | None, beta: float, gamma: float
) -> ObjectiveOutput:
    """Length-normalised margin with a target gap gamma (the paper keeps gamma/beta = 0.5)."""
    reward_w = beta * policy.chosen_mean
    reward_l = beta * policy.rejected_mean
    losses = -F.logsigmoid(reward_w - reward_l - gamma)
    return ObjectiveOutput(
        losses=losses, weights=torch.ones_like(losses), rewards_chosen=reward_w, rewards_rejected=reward_l
    )
