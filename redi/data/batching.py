"""Batches of row indices that waste little compute on padding, as a pure function of their arguments.

``make_batches`` depends only on (lengths, batch_size, seed, epoch, mode, window, max_tokens, drop_last), so exact
resume (recompute the epoch's batches, skip the ones done) and distributed sharding (every rank computes the same
list and takes its slice) need no saved state. Modes:
- random: a seeded permutation cut into batches (the baseline).
- sequential: the rows in file order cut into batches (what a Trainer with a sequential sampler does).
- grouped: the permutation is cut into windows of ``window * batch_size`` rows; each window is sorted by length
  and cut into batches; all batches are then shuffled, so similar lengths share a batch while the order stays random.
- token_budget: as grouped, but a batch grows while ``rows * longest <= max_tokens`` (at most ``batch_size`` rows),
  so batches of short rows hold more rows.

For pairs the length to group by is the longer of the two sequences (both are padded to the longest sequence of
their forward), not their sum: :func:`pair_padding_fraction` measures the padding of one padded forward per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)

MODES = ("grouped", "random", "sequential", "token_budget")


def _check(lengths: Sequence[int], batch_size: int, mode: str, window: int, max_tokens: int | None) -> None:
    if mode not in MODES:
        raise ValueError(f"data.batching: unknown mode {mode!r}; expected one of {list(MODES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if window < 1:
        raise ValueError(f"data.group_window must be >= 1, got {window}")
    if mode == "token_budget":
        if max_tokens is None or max_tokens < 1:
            raise ValueError(
                f"data.max_tokens_per_batch must be a positive integer for token_budget, got {max_tokens!r}"
            )
        longest = int(np.argmax(lengths)) if len(lengths) else 0
        if len(lengths) and lengths[longest] > max_tokens:
            raise ValueError(
                f"row {longest} has {lengths[longest]} tokens, more than data.max_tokens_per_batch={max_tokens}"
            )
    bad = [i for i, n in enumerate(lengths) if n < 0]
    if bad:
        raise ValueError(f"lengths: row {bad[0]} has negative length {lengths[bad[0]]}")


def _budget_batches(
    order: list[int], lengths: Sequence[int], batch_size: int, max_tokens: int
) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        grown = max(longest, lengths[i])
        if current and (len(current) + 1 > batch_size or (len(current) + 1) * grown > max_tokens):
            batches.append(current)
            current, grown = [], lengths[i]
        current.append(i)
        longest = grown
    if current:
        batches.append(current)
    return batches


def make_batches(
    lengths: Sequence[int],
    batch_size: int,
    seed: int,
    epoch: int,
    mode: str = "grouped",
    window: int = 64,
    max_tokens: int | None = None,
    drop_last: bool = False,
) -> list[list[int]]:
    """The epoch's batches of row indices (see the module docstring); deterministic given the arguments.

    ``drop_last`` drops the one batch smaller than ``batch_size`` (random/grouped modes; token_budget batches are
    sized by tokens, so it is ignored there).
    """
    _check(lengths, batch_size, mode, window, max_tokens)
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(n).tolist()
    if mode in ("random", "sequential"):
        order = perm if mode == "random" else list(range(n))
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    else:
        span = window * batch_size
        batches = []
        for start in range(0, n, span):
            chunk = sorted(perm[start : start + span], key=lambda i: (lengths[i], i))
            if mode == "grouped":
                batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            else:
                batches += _budget_batches(chunk, lengths, batch_size, max_tokens)  # type: ignore[arg-type]
        batches = [batches[k] for k in rng.permutation(len(batches))]
    if drop_last and mode != "token_budget":
        batches = [b for b in batches if len(b) == batch_size]
    if batches:
        log.info(
            "batching %s: %d batches, padding fraction %.3f",
            mode,
            len(batches),
            padding_fraction(batches, lengths),
        )
    return batches


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of the padded token slots (rows x longest row, per batch) that are padding."""
    slots = sum(len(b) * max((lengths[i] for i in b), default=0) for b in batches)
    real = sum(lengths[i] for b in batches for i in b)
    return 0.0 if slots == 0 else 1.0 - real / slots


def pair_padding_fraction(
    batches: Sequence[Sequence[int]], chosen: Sequence[int], rejected: Sequence[int]
) -> float:
    """Padding of pairs when each batch is one forward: 2 x rows x longest sequence slots, both sequences real."""
    slots = sum(2 * len(b) * max((max(chosen[i], rejected[i]) for i in b), default=0) for b in batches)
    real = sum(chosen[i] + rejected[i] for b in batches for i in b)
    return 0.0 if slots == 0 else 1.0 - real / slots


def describe_batches(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> dict[str, float]:
    """Numbers worth logging once per epoch: batch count, mean rows and padded tokens per batch, padding fraction."""
    n = len(batches)
    slots = [len(b) * max((lengths[i] for i in b), default=0) for b in batches]
    return {
        "data/batches": float(n),
        "data/rows_per_batch": sum(len(b) for b in batches) / n if n else 0.0,
        "data/padded_tokens_per_batch": sum(slots) / n if n else 0.0,
        "data/padding_fraction": padding_fraction(batches, lengths),
    }
