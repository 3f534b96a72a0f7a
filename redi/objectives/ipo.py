"""IPO (Azar et al. 2023): (h - 1/(2 beta))^2 with h = (logp_w - ref_w) - (logp_l - ref_l), summed log-probs.

A squared loss regresses the log-likelihood-ratio margin to a finite target instead of pushing it to infinity,
so the policy cannot drift arbitrarily far from the reference however separable the pairs are.
"""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, SequenceLogps
from redi.objectives.registry import register

# regularisation: the target margin is 1/(2 beta)
BETA = Hyperparameter("beta", 0.1, low=0.0, low_inclusive=False)


@register("ipo", needs_pairs=True, needs_reference=True, hyperparameters=(BETA,), label="IPO")
def ipo_loss(policy: SequenceLogps, reference: SequenceLogps | None, beta: float) -> ObjectiveOutput:
    """Identity preference optimisation: the reference-relative margin regressed to 1/(2 beta)."""
    if reference is None:
        raise ValueError("ipo needs the reference model's log-probs")
    assert policy.rejected_logps is not None and reference.rejected_logps is not None
    ratio_w = policy.chosen_logps - reference.chosen_logps
    ratio_l = policy.rejected_logps - reference.rejected_logps
    losses = (ratio_w - ratio_l - 1.0 / (2.0 * beta)) ** 2
    return ObjectiveOutput.per_pair(losses, ratio_w, ratio_l)
