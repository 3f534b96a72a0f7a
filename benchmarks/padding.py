"""Padding fraction of length-grouped vs random batching on long-tailed length distributions.

    python benchmarks/padding.py [--rows 20000] [--seed 0] [--synthetic]

Prints, per distribution and batch size, the share of padded token slots for random batches, grouped batches
(sorted within shuffled windows of ``window`` batches) and token-budget batches, and the ratio random / grouped.
``--synthetic`` adds the embedded teacher's SFT rows (prompt + response characters as the length).
"""

from __future__ import annotations

import argparse

import numpy as np

from redi.data.batching import make_batches, padding_fraction


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


if __name__ == "__main__":
    main()
