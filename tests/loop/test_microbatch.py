"""Length-sorted forwards: the partition worked by hand, and padded / packed / single layouts give the same
log-probs and gradients (so the objective sees the same values however a micro-batch is cut)."""

from __future__ import annotations

import random

import pytest
import torch

from redi.data.tokenize import Encoded
from redi.loop.microbatch import ForwardLayout, ForwardStats, partition_by_length, sequences_logps
from tests.loop.test_logprobs import tiny_qwen


def test_partition_by_hand():
    # lengths 1 2 3 5 100 101, overhead 4: [1,2,3] (9 slots) [5] (5) [100,101] (202) costs 9+5+202+12 = 228
    assert partition_by_length([1, 2, 3, 100, 101, 5], overhead=4) == [[0, 1, 2], [5], [3, 4]]
    # a huge overhead makes one forward; a cap of 100 slots splits the two long ones apart
    assert partition_by_length([1, 2, 3, 100, 101, 5], overhead=10**6) == [[0, 1, 2, 5, 3, 4]]
    assert partition_by_length([100, 101], overhead=10**6, max_tokens=150) == [[0], [1]]
    # packed groups cost their total length, so with any overhead one forward is best
    assert partition_by_length([1, 2, 3, 100, 101, 5], overhead=1, packed=True) == [[0, 1, 2, 5, 3, 4]]


def _sequences(n: int = 9) -> list[Encoded]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        length = rng.randint(4, 40)
        out.append(Encoded([rng.randrange(1, 64) for _ in range(length)], rng.randint(1, length - 1), False))
    return out


def test_layouts_give_the_same_logps_and_gradients():
    model, seqs = tiny_qwen(), _sequences()
    weights = torch.linspace(-1, 1, len(seqs))
    results = {}
    for mode in ("single", "padded", "packed"):
        model.zero_grad()
        stats = ForwardStats()
        logps, lengths = sequences_logps(
            model, seqs, 0, ForwardLayout(mode=mode, overhead_tokens=8), "cpu", stats
        )
        (logps * weights).sum().backward()
        results[mode] = (
            logps.detach(),
            lengths,
            {n: p.grad.clone() for n, p in model.named_parameters()},
            stats,
        )
    assert results["single"][3].forwards == 1 and results["packed"][3].padding_fraction == 0.0
    assert results["padded"][3].padding_fraction < results["single"][3].padding_fraction
    assert len({r[3].tokens for r in results.values()}) == 1
    for mode in ("padded", "packed"):
        assert torch.allclose(results[mode][0], results["single"][0], atol=1e-4)
        assert torch.equal(results[mode][1], results["single"][1])
        for name, grad in results[mode][2].items():
            assert torch.allclose(grad, results["single"][2][name], atol=1e-5), (mode, name)


def test_unknown_layout_is_an_error():
    with pytest.raises(ValueError, match="forward layout 'ragged'"):
        ForwardLayout(mode="ragged")
