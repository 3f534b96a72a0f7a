"""NCA, pairwise (Chen et al. 2024): -log sig(r_w) - 1/2 log sig(-r_w) - 1/2 log sig(-r_l), r = beta (logp - ref).

Unlike DPO, which only widens the margin r_w - r_l, NCA scores each response's own reward: the chosen one is
pulled up in absolute terms, which keeps its likelihood from falling together with the rejected one's.
"""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, SequenceLogps, log_sigmoid
from redi.objectives.registry import register

BETA = Hyperparameter("beta", 0.1, low=0.0, low_inclusive=False)  # scale of the implicit rewards


@register("nca", needs_pairs=True, needs_reference=True, hyperparameters=(BETA,), label="NCA")
def nca_loss(policy: SequenceLogps, reference: SequenceLogps | None, beta: float) -> ObjectiveOutput:
    """Noise contrastive alignment on pairs: each response's reward against the reference, not just the margin."""
    if reference is None:
        raise ValueError("nca needs the reference model's log-probs")
    assert policy.rejected_logps is not None and reference.rejected_logps is not None
    reward_w = beta * (policy.chosen_logps - reference.chosen_logps)
    reward_l = beta * (policy.rejected_logps - reference.rejected_logps)
    losses = -log_sigmoid(reward_w) - 0.5 * log_sigmoid(-reward_w) - 0.5 * log_sigmoid(-reward_l)
    return ObjectiveOutput.per_pair(losses, reward_w, reward_l)
