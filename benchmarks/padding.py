"""Padding fraction of length-grouped vs random batching on long-tailed length distributions.

    python benchmarks/padding.py [--rows 20000] [--seed 0] [--synthetic]

Prints, per distribution and batch size, the share of padded token slots for random batches, grouped batches
(sorted within shuffled windows of ``window`` batches) and token-budget batches, and the ratio random / grouped.
``--synthetic`` adds the embedded teacher's SFT rows (prompt + response characters as the length).

Then pairs (the benchmark workload's preference rows and R1-like pairs): batches grouped by the sum of chosen and
rejected lengths (the old plan) or by the longer of the two (redi's), each batch as one padded forward of its 2B
sequences, or cut into the length-sorted forwards the training step runs (redi.loop.microbatch, overhead 64).
"""

from __future__ import annotations

import argparse

import numpy as np

from redi.data.batching import make_batches, padding_fraction, pair_padding_fraction
from redi.loop.microbatch import partition_by_length


def distributions(n: int, seed: int) -> dict[str, list[int]]:
    """Long-tailed token lengths: R1-like traces (lognormal around 3k tokens, capped at 19.8k) and a Pareto tail."""
    rng = np.random.default_rng(seed)
    r1 = np.clip(rng.lognormal(np.log(3000), 0.9, n), 200, 19800).astype(int)
    pareto = np.clip(100 * (1 + rng.pareto(1.5, n)), 100, 16000).astype(int)
    return {"r1-like lognormal": r1.tolist(), "pareto(1.5)": pareto.tolist()}


def synthetic_lengths() -> list[int]:
    from redi.config import SyntheticTeacherConfig
    from redi.data.synthetic import generate_teacher_rows

    rows = generate_teacher_rows(SyntheticTeacherConfig())
    return [
        len(r["problem"]) + len(g)
        for r in rows
        for g, ok in zip(r["generations"], r["correctness_math_verify"], strict=True)
        if ok
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args(argv)
    dists = distributions(args.rows, args.seed)
    if args.synthetic:
        dists["synthetic teacher (chars)"] = synthetic_lengths()
    header = f"{'distribution':<26} {'batch':>5} {'random':>8} {'grouped':>8} {'budget':>8} {'rows/b':>7} {'rand/grp':>9}"
    print(f"padding fraction (share of padded token slots); grouped window = {args.window} batches")
    print(header)
    print("-" * len(header))
    for name, lengths in dists.items():
        for bs in (8, 32, 128):
            rand = padding_fraction(make_batches(lengths, bs, args.seed, 0, mode="random"), lengths)
            grouped = padding_fraction(make_batches(lengths, bs, args.seed, 0, window=args.window), lengths)
            budget = bs * int(np.mean(lengths))  # the same tokens per batch on average as fixed batches
            tb = make_batches(
                lengths,
                4 * bs,
                args.seed,
                0,
                mode="token_budget",
                window=args.window,
                max_tokens=max(budget, max(lengths)),
            )
            tbf = padding_fraction(tb, lengths)
            rows = len(lengths) / len(tb)
            print(
                f"{name:<26} {bs:>5} {rand:>8.3f} {grouped:>8.3f} {tbf:>8.3f} {rows:>7.1f} {rand / max(grouped, 1e-9):>9.1f}"
            )
    pairs_table(args.rows, args.seed, args.window)


def forwards_padding(
    batches: list[list[int]], chosen: list[int], rejected: list[int], overhead: int
) -> float:
    """Padding of the length-sorted forwards each batch's 2B sequences are cut into."""
    slots = real = 0
    for b in batches:
        lengths = [chosen[i] for i in b] + [rejected[i] for i in b]
        for group in partition_by_length(lengths, overhead=overhead):
            slots += len(group) * max(lengths[i] for i in group)
        real += sum(lengths)
    return 1.0 - real / slots if slots else 0.0


def pair_distributions(n: int, seed: int) -> dict[str, tuple[list[int], list[int]]]:
    """(chosen, rejected) lengths: the vs_trl workload's rows and independent R1-like lognormal pairs."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from workload import make_rows

    rows = make_rows(264, seed)
    workload = (
        [len(r.prompt) + len(r.chosen) + 1 for r in rows],
        [len(r.prompt) + len(r.rejected) + 1 for r in rows],
    )
    rng = np.random.default_rng(seed)
    r1 = [np.clip(rng.lognormal(np.log(3000), 0.9, n), 200, 19800).astype(int).tolist() for _ in range(2)]
    return {"vs_trl workload (264)": workload, "r1-like pairs": (r1[0], r1[1])}


def pairs_table(n: int, seed: int, window: int, overhead: int = 64) -> None:
    print(f"\npairs: padding fraction of 2B sequences per batch; forwards overhead = {overhead} tokens")
    header = f"{'distribution':<24} {'pairs':>5} {'sum,1 fwd':>10} {'max,1 fwd':>10} {'max,fwds':>9} {'random,fwds':>12}"
    print(header)
    print("-" * len(header))
    for name, (chosen, rejected) in pair_distributions(n, seed).items():
        sums = [c + r for c, r in zip(chosen, rejected, strict=True)]
        longer = [max(c, r) for c, r in zip(chosen, rejected, strict=True)]
        for bs in (8, 32):
            by_sum = make_batches(sums, bs, seed, 0, window=window, drop_last=True)
            by_max = make_batches(longer, bs, seed, 0, window=window, drop_last=True)
            rand = make_batches(longer, bs, seed, 0, mode="random", drop_last=True)
            print(
                f"{name:<24} {bs:>5} {pair_padding_fraction(by_sum, chosen, rejected):>10.3f} "
                f"{pair_padding_fraction(by_max, chosen, rejected):>10.3f} "
                f"{forwards_padding(by_max, chosen, rejected, overhead):>9.3f} "
                f"{forwards_padding(rand, chosen, rejected, overhead):>12.3f}"
            )


if __name__ == "__main__":
    main()
