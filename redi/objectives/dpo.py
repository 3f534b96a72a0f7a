"""DPO: -log sigmoid(beta * [(logp_w - ref_w) - (logp_l - ref_l)]) with summed log-probs."""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, SequenceLogps, log_sigmoid
from redi.objectives.registry import register

BETA = Hyperparameter("beta", 0.1, low=0.0, low_inclusive=False)  # strength of the KL anchor to the reference


@register("dpo", needs_pairs=True, needs_reference=True, hyperparameters=(BETA,), label="DPO")
def dpo_loss(policy: SequenceLogps, reference: SequenceLogps | None, beta: float) -> ObjectiveOutput:
    """Direct preference optimisation against the stage-1 model as reference."""
    if reference is None:
        raise ValueError("dpo needs the reference model's log-probs")
    assert policy.rejected_logps is not None and reference.rejected_logps is not None
    reward_w = beta * (policy.chosen_logps - reference.chosen_logps)
    reward_l = beta * (policy.rejected_logps - reference.rejected_logps)
    return ObjectiveOutput.per_pair(-log_sigmoid(reward_w - reward_l), reward_w, reward_l)
