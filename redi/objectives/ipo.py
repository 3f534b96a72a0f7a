"""IPO (Azar et al. 2023): (h - 1/(2 beta))^2 with h = (logp_w - ref_w) - (logp_l - ref_l).

A squared loss regresses the log-likelihood-ratio margin to a finite target instead of pushing it to infinity,
so the policy cannot drift arbitrarily far from the reference however separable the pairs are.

Summed or length-normalised: by default (``objective.logps=sum``) each log-ratio is summed over the response's
tokens, the paper's equation as written, so h (and the loss) grows with the responses' length. TRL normalises each
log-ratio by its response length (h = (logp_w - ref_w)/|y_w| - (logp_l - ref_l)/|y_l|; its code says the IPO
authors confirmed that form): ``objective.logps=mean`` gives TRL's loss, value for value
(tests/objectives/test_ipo.py). The target 1/(2 beta) is the same number in both, so beta means something else in
each: compare a beta only within one choice.
"""

from __future__ import annotations

from redi.objectives.base import Hyperparameter, ObjectiveOutput, Option, SequenceLogps
from redi.objectives.registry import register

# regularisation: the target margin is 1/(2 beta)
BETA = Hyperparameter("beta", 0.1, low=0.0, low_inclusive=False)
LOGPS = Option("logps", ("sum", "mean"))  # sum: the paper's equation; mean: per token, as TRL


@register(
    "ipo", needs_pairs=True, needs_reference=True, hyperparameters=(BETA,), label="IPO", options=(LOGPS,)
)
def ipo_loss(
    policy: SequenceLogps, reference: SequenceLogps | None, beta: float, logps: str = "sum"
) -> ObjectiveOutput:
    """Identity preference optimisation: the reference-relative margin regressed to 1/(2 beta).

    The rewards are the log-ratios the margin is made of (summed, or per token with ``logps="mean"``).
    """
    if reference is None:
        raise ValueError("ipo needs the reference model's log-probs")
    assert policy.rejected_logps is not None and reference.rejected_logps is not None
    assert policy.rejected_lengths is not None
    ratio_w = policy.chosen_logps - reference.chosen_logps
    ratio_l = policy.rejected_logps - reference.rejected_logps
    if logps == "mean":
        ratio_w = ratio_w / policy.chosen_lengths.clamp(min=1)
        ratio_l = ratio_l / policy.rejected_lengths.clamp(min=1)
    elif logps != "sum":
        raise ValueError(f"objective.logps={logps!r}: expected sum or mean")
    losses = (ratio_w - ratio_l - 1.0 / (2.0 * beta)) ** 2
    return ObjectiveOutput.per_pair(losses, ratio_w, ratio_l)
