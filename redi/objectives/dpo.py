"""DPO: -log sigmoid(beta * [(logp_w - ref_w) - (logp_l - ref_l)]) with summed log-probs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from redi.objectives.base import ObjectiveOutput, SequenceLogps
from redi.objectives.registry import register, require_range


def _validate(beta: float) -> None:
    require_range("beta", beta, low=0.0, low_inclusive=False)


@register("dpo", needs_pairs=True, needs_reference=True, hyperparameters=("beta",), validate=_validate)
def dpo_loss(policy: SequenceLogps, reference: SequenceLogps | None, beta: float) -> ObjectiveOutput:
    """Direct preference optimisation against the stage-1 model as reference."""
    if reference is None:
        raise ValueError("dpo needs the reference model's log-probs")
    assert policy.rejected_logps is not None and reference.rejected_logps is not None
    reward_w = beta * (policy.chosen_logps - reference.chosen_logps)
    reward_l = beta * (policy.rejected_logps - reference.rejected_logps)
    losses = -F.logsigmoid(reward_w - reward_l)
    return ObjectiveOutput(
        losses=losses, weights=torch.ones_like(losses), rewards_chosen=reward_w, rewards_rejected=reward_l
    )
