"""SFT: -log p(y_w), averaged over the response tokens of the whole (global) batch."""

from __future__ import annotations

from redi.objectives.base import ObjectiveOutput, SequenceLogps
from redi.objectives.registry import register


@register("sft", needs_pairs=False, label="SFT")
def sft_loss(policy: SequenceLogps, reference: SequenceLogps | None = None) -> ObjectiveOutput:
    """Token-mean negative log-likelihood of the correct traces (stage 1)."""
    return ObjectiveOutput(
        losses=-policy.chosen_logps, weights=policy.chosen_lengths.to(policy.chosen_logps.dtype)
    )
