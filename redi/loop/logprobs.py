"""The one place that turns a model's forward into per-sequence log-probs, without full (N, T, V) logits.

The model's own forward runs (so DDP/FSDP hooks, PEFT and autocast behave as usual) with its output projection
swapped, for that call only, for :func:`head_logps`: the final hidden states of the scored positions go through the
LM head and log-softmax in chunks of rows, and only the target token's log-prob is kept. The backward recomputes
each chunk's logits, so the memory of the head is one chunk (``chunk_elements`` floats) whatever the vocabulary
and sequence length. Only response tokens are scored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from redi.data.tokenize import TokenBatch
from redi.objectives.base import SequenceLogps

CHUNK_ELEMENTS = 1 << 23  # logits held at once by the chunked head: 8 M floats (32 MB in fp32)


@dataclass
class PackedBatch(TokenBatch):
    """A TokenBatch whose N rows hold S >= N sequences back to back (padding-free).

    sequence_ids: (N, T) which sequence each position belongs to; position_ids: (N, T), restarting at 0 for every
    sequence (attention_mask is all ones); num_sequences: S.
    """

    sequence_ids: torch.Tensor | None = None
    position_ids: torch.Tensor | None = None
    num_sequences: int | None = None

    def to(self, device: torch.device | str) -> PackedBatch:
        moved = super().to(device)
        return PackedBatch(
            moved.input_ids,
            moved.attention_mask,
            moved.response_mask,
            moved.num_pairs,
            self.sequence_ids.to(device) if self.sequence_ids is not None else None,
            self.position_ids.to(device) if self.position_ids is not None else None,
            self.num_sequences,
        )


def _sequence_ids(batch: TokenBatch) -> torch.Tensor | None:
    return getattr(batch, "sequence_ids", None)


def _num_sequences(batch: TokenBatch) -> int:
    n = getattr(batch, "num_sequences", None)
    return n if n is not None else batch.input_ids.shape[0]


def token_logps(
    logits: torch.Tensor, input_ids: torch.Tensor, max_chunk_elements: int = 1 << 26
) -> torch.Tensor:
    """Log-prob of each next token from full logits (the plain path, kept as the reference in tests/benchmarks).

    (N, T, V) logits and (N, T) ids -> (N, T-1) log p(ids[:, t+1] | ids[:, :t+1]), in chunks of rows.
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


def _autocast_state(device_type: str) -> tuple[bool, torch.dtype]:
    if device_type not in ("cpu", "cuda") or not torch.is_autocast_enabled(device_type):
        return False, torch.float32
    return True, torch.get_autocast_dtype(device_type)


class ChunkedHeadLogps(torch.autograd.Function):
    """log_softmax(hidden @ weight.T + bias)[targets] for M rows, computed and differentiated chunk by chunk.

    hidden: (M, H); weight: (V, H); bias: (V,) or None; targets: (M,) -> (M,) float32 log-probs. Saves only the
    inputs and the (M,) log-sum-exp; the backward recomputes each chunk's logits (one extra head matmul) instead
    of keeping (M, V) logits and their softmax.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_rows: int):  # type: ignore[override]
        out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        lse = torch.empty_like(out)
        for s in range(0, hidden.shape[0], chunk_rows):
            logits = F.linear(hidden[s : s + chunk_rows], weight, bias).float()
            lse[s : s + chunk_rows] = torch.logsumexp(logits, dim=-1)
            out[s : s + chunk_rows] = logits.gather(1, targets[s : s + chunk_rows, None]).squeeze(1)
        out -= lse
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.chunk_rows = chunk_rows
        ctx.autocast = _autocast_state(hidden.device.type)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        hidden, weight, bias, targets, lse = ctx.saved_tensors
        enabled, dtype = ctx.autocast
        compute = dtype if enabled else hidden.dtype
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if need_b else None
        w = weight.to(compute)
        with torch.autocast(hidden.device.type, dtype=dtype, enabled=enabled):
            for s in range(0, hidden.shape[0], ctx.chunk_rows):
                h = hidden[s : s + ctx.chunk_rows]
                g = grad_out[s : s + ctx.chunk_rows].float()
                logits = F.linear(h, weight, bias).float()
                # d logp[y] / d logits = onehot(y) - softmax; scaled by the incoming gradient, in place
                d = logits.sub_(lse[s : s + ctx.chunk_rows, None]).exp_().mul_(-g[:, None])
                d.scatter_add_(1, targets[s : s + ctx.chunk_rows, None], g[:, None])
                if grad_b is not None:
                    grad_b += d.sum(0)
                d = d.to(compute)
                if grad_h is not None:
                    grad_h[s : s + ctx.chunk_rows] = (d @ w).to(hidden.dtype)
                if grad_w is not None:
                    grad_w += (d.t() @ h.to(compute)).float()
        return (
            grad_h,
            grad_w.to(weight.dtype) if grad_w is not None else None,
            grad_b.to(bias.dtype) if grad_b is not None else None,
            None,
            None,
        )


def chunked_head_logps(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """(M, H) hidden states, (V, H) head -> (M,) log p(targets); memory of one (chunk, V) block (see the class)."""
    rows = max(1, chunk_elements // weight.shape[0])
    return ChunkedHeadLogps.apply(hidden, weight, bias, targets, rows)


def _output_head(model: torch.nn.Module) -> torch.nn.Module:
    inner = getattr(model, "module", model)  # DDP
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if head is None or not isinstance(head, torch.nn.Linear):
        raise TypeError(f"{type(inner).__name__} has no linear output head (get_output_embeddings())")
    return head


@contextlib.contextmanager
def scoring_head(model: torch.nn.Module, batch: TokenBatch, chunk_elements: int) -> Iterator[dict]:
    """Within the block, the model's output head returns (S,) summed response log-probs instead of logits.

    The head sees the final hidden states (N, T, H); it keeps the positions t whose next token t+1 is a response
    token, scores them with :func:`chunked_head_logps` and sums them per sequence into ``result["logps"]``.
    """
    head = _output_head(model)
    result: dict[str, torch.Tensor] = {}
    scored = batch.response_mask[:, 1:].bool()
    targets = batch.input_ids[:, 1:][scored]
    seq_ids = _sequence_ids(batch)
    seq = seq_ids[:, 1:][scored] if seq_ids is not None else scored.nonzero()[:, 0]

    def forward(hidden_states: torch.Tensor) -> torch.Tensor:
        picked = hidden_states[:, :-1][scored]
        # the weight is read at call time: FSDP swaps in the unsharded parameter during the forward
        logps = chunked_head_logps(picked, head.weight, head.bias, targets, chunk_elements)
        sums = torch.zeros(_num_sequences(batch), dtype=torch.float32, device=logps.device)
        result["logps"] = sums.index_add(0, seq, logps)
        return result["logps"]

    head.forward = forward  # an instance attribute shadows the class's forward for this block only
    try:
        yield result
    finally:
        del head.forward


def sequence_logps(
    model: torch.nn.Module, batch: TokenBatch, chunk_elements: int = CHUNK_ELEMENTS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probs (S,) float32 and response lengths (S,) of every sequence of ``batch``."""
    kwargs = {"use_cache": False}
    position_ids = getattr(batch, "position_ids", None)
    if position_ids is not None:  # packed: positions restart per sequence, no padding mask
        kwargs["position_ids"] = position_ids
    else:
        kwargs["attention_mask"] = batch.attention_mask
    with scoring_head(model, batch, chunk_elements) as result:
        model(input_ids=batch.input_ids, **kwargs)
    return result["logps"], response_lengths(batch)


def response_lengths(batch: TokenBatch) -> torch.Tensor:
    """(S,) scored tokens per sequence (>= 1)."""
    scored = batch.response_mask[:, 1:]
    seq_ids = _sequence_ids(batch)
    if seq_ids is None:
        return scored.sum(-1).clamp(min=1)
    counts = torch.zeros(_num_sequences(batch), dtype=scored.dtype, device=scored.device)
    return counts.index_add(0, seq_ids[:, 1:].reshape(-1), scored.reshape(-1)).clamp(min=1)


def plain_sequence_logps(model: torch.nn.Module, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The unoptimised path (full logits, then log-softmax): the reference the chunked head is tested against."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    per_token = token_logps(logits, batch.input_ids)
    mask = batch.response_mask[:, 1:].to(per_token.dtype)
    return (per_token * mask).sum(-1), batch.response_mask[:, 1:].sum(-1).clamp(min=1)


def split_pairs(logps: torch.Tensor, lengths: torch.Tensor, num_pairs: int | None) -> SequenceLogps:
    """(S,) per-sequence values -> SequenceLogps (chosen first B, rejected last B when ``num_pairs`` is B)."""
    if num_pairs is None:
        return SequenceLogps(chosen_logps=logps, chosen_lengths=lengths)
    b = num_pairs
    return SequenceLogps(logps[:b], lengths[:b], logps[b:], lengths[b:])


def policy_logps(model: torch.nn.Module, batch: TokenBatch) -> SequenceLogps:
    """Run the model once on a (possibly concatenated) batch and split chosen from rejected."""
    logps, lengths = sequence_logps(model, batch)
    return split_pairs(logps, lengths, batch.num_pairs)
