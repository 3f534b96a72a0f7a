"""DPO + NLL on the chosen (RPO, Pang et al. 2024): DPO's loss + nll_weight * (-logp_w/|y_w|).

The NLL term keeps the correct trace's own likelihood up while DPO widens the margin, the remedy the iterative
reasoning preference optimisation paper gives for chosen log-probs falling with the rejected ones.
``nll_weight`` is a root key declared here only (nothing in redi/config/ names it).
"""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, SequenceLogps, log_sigmoid
from redi.objectives.registry import register

BETA = Hyperparameter("beta", 0.1, low=0.0, low_inclusive=False)  # DPO's strength of the KL anchor
NLL_WEIGHT = Hyperparameter("nll_weight", 1.0, low=0.0)  # weight of the chosen's per-token NLL (RPO's alpha)


@register("rpo", needs_pairs=True, needs_reference=True, hyperparameters=(BETA, NLL_WEIGHT), label="RPO")
def rpo_loss(
    policy: SequenceLogps, reference: SequenceLogps | None, beta: float, nll_weight: float
) -> ObjectiveOutput:
    """DPO against the stage-1 reference plus the length-normalised NLL of the correct trace."""
    if reference is None:
        raise ValueError("rpo needs the reference model's log-probs")
    assert policy.rejected_logps is not None and reference.rejected_logps is not None
    reward_w = beta * (policy.chosen_logps - reference.chosen_logps)
    reward_l = beta * (policy.rejected_logps - reference.rejected_logps)
    losses = -log_sigmoid(reward_w - reward_l) - nll_weight * policy.chosen_mean
    return ObjectiveOutput.per_pair(losses, reward_w, reward_l)
