"""The one place that turns model outputs into per-sequence log-probs.

Chosen and rejected sequences go through the model in one concatenated forward (2B rows), so both see the same
weights, the same padding and one kernel launch; only response tokens count.
"""

from __future__ import annotations

import torch

from redi.data.tokenize import TokenBatch
from redi.objectives.base import SequenceLogps


def token_logps(
    logits: torch.Tensor, input_ids: torch.Tensor, max_chunk_elements: int = 1 << 26
) -> torch.Tensor:
    """Log-prob of each next token: (N, T, V) logits and (N, T) ids -> (N, T-1) log p(ids[:, t+1] | ids[:, :t+1]).

    Computed as gathered logit minus logsumexp, in chunks of rows holding at most ``max_chunk_elements`` logits, so
    no full (N, T, V) float32 log-softmax is materialised for a large vocabulary (one chunk for a small one).
    """
    targets = input_ids[:, 1:]
    n, t, v = logits.shape
    rows = max(1, max_chunk_elements // max(1, (t - 1) * v))
    parts = []
    for start in range(0, n, rows):
        chunk = logits[start : start + rows, :-1].float()
        picked = chunk.gather(-1, targets[start : start + rows].unsqueeze(-1)).squeeze(-1)
        parts.append(picked - torch.logsumexp(chunk, dim=-1))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def sequence_logps(model: torch.nn.Module, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probs (N,) and response lengths (N,) of every row of ``batch``."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    per_token = token_logps(logits, batch.input_ids)
    mask = batch.response_mask[:, 1:].to(per_token.dtype)
    return (per_token * mask).sum(-1), batch.response_mask[:, 1:].sum(-1).clamp(min=1)


def policy_logps(model: torch.nn.Module, batch: TokenBatch) -> SequenceLogps:
    """Run the model once on a (possibly concatenated) batch and split chosen from rejected."""
    logps, lengths = sequence_logps(model, batch)
    if batch.num_pairs is None:
        return SequenceLogps(chosen_logps=logps, chosen_lengths=lengths)
    b = batch.num_pairs
    return SequenceLogps(
        chosen_logps=logps[:b],
        chosen_lengths=lengths[:b],
        rejected_logps=logps[b:],
        rejected_lengths=lengths[b:],
    )
