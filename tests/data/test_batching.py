"""Length-grouped batching: a pure function, every row once per epoch, less padding than random batches."""

from __future__ import annotations

import numpy as np
import pytest

from redi.data.batching import describe_batches, make_batches, padding_fraction


def long_tailed(n: int = 2000, seed: int = 0) -> list[int]:
    return np.clip(np.random.default_rng(seed).lognormal(4.0, 0.8, n), 4, 4000).astype(int).tolist()


@pytest.mark.parametrize("mode", ["random", "grouped", "token_budget"])
def test_every_row_once_and_deterministic(mode):
    lengths = long_tailed(1003)
    kw = {"mode": mode, "window": 8, "max_tokens": 8000 if mode == "token_budget" else None}
    batches = make_batches(lengths, 32, seed=3, epoch=1, **kw)
    assert sorted(i for b in batches for i in b) == list(range(1003))
    assert make_batches(lengths, 32, seed=3, epoch=1, **kw) == batches
    assert make_batches(lengths, 32, seed=3, epoch=2, **kw) != batches
    assert make_batches(lengths, 32, seed=4, epoch=1, **kw) != batches
    assert all(1 <= len(b) <= 32 for b in batches)


def test_grouped_has_full_batches_except_one_and_drop_last():
    lengths = long_tailed(1003)
    sizes = sorted(len(b) for b in make_batches(lengths, 32, seed=0, epoch=0, window=4))
    assert sizes == [1003 % 32] + [32] * (1003 // 32)
    dropped = make_batches(lengths, 32, seed=0, epoch=0, window=4, drop_last=True)
    assert len(dropped) == 1003 // 32 and all(len(b) == 32 for b in dropped)


def test_grouping_cuts_padding_on_a_long_tail():
    lengths = long_tailed()
    rand = padding_fraction(make_batches(lengths, 32, 0, 0, mode="random"), lengths)
    grouped = padding_fraction(make_batches(lengths, 32, 0, 0, mode="grouped", window=16), lengths)
    assert rand > 0.4 and grouped < rand / 3


def test_grouped_batch_order_is_shuffled_not_sorted():
    lengths = list(range(640))
    batches = make_batches(lengths, 10, seed=0, epoch=0, window=64)
    maxima = [max(lengths[i] for i in b) for b in batches]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)


def test_token_budget_respects_the_budget():
    lengths = long_tailed()
    batches = make_batches(lengths, 256, 0, 0, mode="token_budget", window=4, max_tokens=4096)
    assert all(len(b) * max(lengths[i] for i in b) <= 4096 for b in batches)
    assert max(len(b) for b in batches) > 32  # short rows share a batch by the dozen
    with pytest.raises(ValueError, match=r"row \d+ has \d+ tokens, more than data.max_tokens_per_batch=100"):
        make_batches(lengths, 8, 0, 0, mode="token_budget", max_tokens=100)
    with pytest.raises(ValueError, match="token_budget"):
        make_batches(lengths, 8, 0, 0, mode="token_budget")


def test_padding_fraction_by_hand():
    lengths = [2, 4, 3, 3]
    assert padding_fraction([[0, 1]], lengths) == pytest.approx(0.25)  # 6 real of 8 slots
    assert padding_fraction([[0, 1], [2, 3]], lengths) == pytest.approx(2 / 14)
    assert padding_fraction([], lengths) == 0.0
    d = describe_batches([[0, 1], [2, 3]], lengths)
    assert d["data/batches"] == 2 and d["data/padded_tokens_per_batch"] == 7


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown mode 'sorted'"):
        make_batches([1, 2], 1, 0, 0, mode="sorted")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        make_batches([1, 2], 0, 0, 0)
    with pytest.raises(ValueError, match="row 1 has negative length"):
        make_batches([1, -2], 1, 0, 0)
