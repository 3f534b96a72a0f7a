"""How the sequences of one micro-batch go through the model: length-sorted forwards that waste little padding.

A micro-batch of B pairs is 2B sequences of different lengths. Padding them all to the longest wastes most of the
compute on long-tailed data, so the sequences are sorted by length and cut into consecutive groups by
:func:`partition_by_length` (the cut that minimises padded slots plus a fixed cost per forward); each group is one
forward, padded to its own longest ("padded" layout) or concatenated into one row with positions restarting per
sequence ("packed": padding-free, for FlashAttention's variable-length kernels). The per-sequence log-probs are
put back in the micro-batch's order, so the objective and its single backward see the same values as one forward.
"single" is one padded forward of the whole micro-batch with the chunked head; "plain" is the unoptimised reference:
one padded forward that builds the full (N, T, V) logits, then log-softmax (``plain_sequence_logps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from redi.data.tokenize import Encoded, EncodedRows, TokenBatch, collate, collate_rows
from redi.loop.logprobs import (
    CHUNK_ELEMENTS,
    PackedBatch,
    plain_sequence_logps,
    sequence_logps,
    split_pairs,
)
from redi.objectives.base import SequenceLogps

LAYOUTS = ("padded", "packed", "single", "plain")


@dataclass(frozen=True)
class ForwardLayout:
    """mode: padded | packed | single (all sequences of a micro-batch in one padded forward) | plain (single, with
    full logits: the unoptimised reference).

    overhead_tokens: the fixed cost of one more forward, in token slots (launches, small matmuls).
    max_tokens: cap on the token slots of one forward (activation memory); None = no cap.
    """

    mode: str = "padded"
    overhead_tokens: int = 64
    max_tokens: int | None = None
    chunk_elements: int = CHUNK_ELEMENTS

    def __post_init__(self) -> None:
        if self.mode not in LAYOUTS:
            raise ValueError(f"forward layout {self.mode!r}: expected one of {list(LAYOUTS)}")


def default_layout(attn_implementation: str | None) -> ForwardLayout:
    """Packed where a variable-length attention kernel is in use, length-sorted padded forwards elsewhere."""
    packed = (attn_implementation or "").startswith("flash_attention")
    return ForwardLayout(mode="packed" if packed else "padded")


def resolve_layout(mode: str, model: torch.nn.Module, max_tokens: int | None = None) -> ForwardLayout:
    """The layout ``trainer.forward`` names; ``auto`` picks by the model's attention implementation."""
    if mode != "auto":
        return ForwardLayout(mode=mode, max_tokens=max_tokens)
    inner = getattr(model, "module", model)
    attn = getattr(getattr(inner, "config", None), "_attn_implementation", None)
    return ForwardLayout(mode=default_layout(attn).mode, max_tokens=max_tokens)


@dataclass
class ForwardStats:
    """Tokens of a step: real (non-padding) tokens, computed slots (padding included), forwards run."""

    tokens: int = 0
    slots: int = 0
    forwards: int = 0

    def add(self, batch: TokenBatch) -> None:
        self.tokens += batch.num_tokens
        self.slots += batch.input_ids.numel()
        self.forwards += 1

    @property
    def padding_fraction(self) -> float:
        return 0.0 if self.slots == 0 else 1.0 - self.tokens / self.slots


def partition_by_length(
    lengths: Sequence[int], overhead: int = 64, max_tokens: int | None = None, packed: bool = False
) -> list[list[int]]:
    """Indices grouped into forwards: sorted by length, cut where it minimises slots + overhead per forward.

    A group's cost is rows x its longest (padded) or its total length (packed), plus ``overhead``; a group may not
    exceed ``max_tokens`` slots unless it is a single sequence. Exact dynamic programme over the sorted order,
    O(n^2) for the n <= a few hundred sequences of a micro-batch. Returns groups of original indices, longest last.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cheapest cost of the first j sorted sequences
    cut = [0] * (n + 1)
    prefix = [0]
    for i in order:
        prefix.append(prefix[-1] + lengths[i])
    for j in range(1, n + 1):
        longest = lengths[order[j - 1]]
        for i in range(j - 1, -1, -1):
            slots = (prefix[j] - prefix[i]) if packed else (j - i) * longest
            if max_tokens is not None and slots > max_tokens and j - i > 1:
                break
            cost = best[i] + slots + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups: list[list[int]] = []
    j = n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


def collate_packed(sequences: Sequence[Encoded]) -> PackedBatch:
    """One row holding all sequences back to back: (1, sum of lengths), positions restarting at 0 per sequence."""
    ids = [t for s in sequences for t in s.ids]
    input_ids = torch.tensor([ids], dtype=torch.long)
    response = torch.zeros_like(input_ids)
    position = torch.empty_like(input_ids)
    seq_ids = torch.empty_like(input_ids)
    offset = 0
    for k, s in enumerate(sequences):
        end = offset + len(s.ids)
        response[0, offset + s.response_start : end] = 1
        position[0, offset:end] = torch.arange(len(s.ids))
        seq_ids[0, offset:end] = k
        offset = end
    return PackedBatch(
        input_ids,
        torch.ones_like(input_ids),
        response,
        sequence_ids=seq_ids,
        position_ids=position,
        num_sequences=len(sequences),
    )


def sequences_logps(
    model: torch.nn.Module,
    sequences: Sequence[Encoded],
    pad_id: int,
    layout: ForwardLayout,
    device: torch.device | str,
    stats: ForwardStats | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(S,) summed response log-probs and (S,) response lengths of ``sequences``, in their order."""
    if layout.mode == "single":
        groups = [list(range(len(sequences)))]
    else:
        groups = partition_by_length(
            [len(s.ids) for s in sequences],
            overhead=layout.overhead_tokens,
            max_tokens=layout.max_tokens,
            packed=layout.mode == "packed",
        )
    logps, lengths = [], []
    for group in groups:
        members = [sequences[i] for i in group]
        batch = collate_packed(members) if layout.mode == "packed" else collate(members, pad_id)
        if stats is not None:
            stats.add(batch)
        lp, ln = sequence_logps(model, batch.to(device), layout.chunk_elements)
        logps.append(lp)
        lengths.append(ln)
    inverse = torch.empty(len(sequences), dtype=torch.long)
    inverse[torch.tensor([i for g in groups for i in g], dtype=torch.long)] = torch.arange(len(sequences))
    inverse = inverse.to(logps[0].device)
    return torch.cat(logps)[inverse], torch.cat(lengths)[inverse]


def rows_logps(
    model: torch.nn.Module,
    rows: EncodedRows,
    indices: Sequence[int],
    pad_id: int,
    layout: ForwardLayout,
    device: torch.device | str,
    stats: ForwardStats | None = None,
) -> SequenceLogps:
    """The policy's log-probs of the given rows (chosen, and rejected for pairs) through length-sorted forwards."""
    if layout.mode == "plain":
        batch = collate_rows(rows, indices, pad_id)
        if stats is not None:
            stats.add(batch)
        logps, lengths = plain_sequence_logps(model, batch.to(device))
        return split_pairs(logps, lengths, batch.num_pairs)
    seqs = [rows.chosen[i] for i in indices]
    if rows.rejected is not None:
        seqs += [rows.rejected[i] for i in indices]
    logps, lengths = sequences_logps(model, seqs, pad_id, layout, device, stats)
    return split_pairs(logps, lengths, len(indices) if rows.rejected is not None else None)
