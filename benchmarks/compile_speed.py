"""Does ``trainer.compile=true`` pay on this machine? Eager against compiled decoder layers, side by side.

    python benchmarks/compile_speed.py [--models tiny,small] [--rows 32] [--repeats 3] [--threads 1]

For each model: the same random Qwen2 twice (benchmarks/workload.py), one with every decoder layer compiled by
redi.model.kernels.compile_layers; both run forward + backward of redi's log-prob head (REDI alpha 0.8) over the same
pairs (long-tailed lengths, 2 sequences padded to the longer), interleaved per repeat. Prints the compilation
time (the first pass over every length), then the median seconds per pass and the eager/compiled ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import EOS_ID, PAD_ID, make_model, make_rows  # noqa: E402

from redi.data.tokenize import Encoded, EncodedRows, collate_rows  # noqa: E402
from redi.loop.logprobs import policy_logps  # noqa: E402
from redi.model.kernels import compile_layers  # noqa: E402
from redi.objectives import get_objective  # noqa: E402


def pairs(n: int, seed: int) -> EncodedRows:
    """The vs_trl workload's rows as redi's encoded pairs (prompt + response + EOS)."""
    rows = make_rows(n, seed)
    chosen = [Encoded(r.prompt + r.chosen + [EOS_ID], len(r.prompt), False) for r in rows]
    rejected = [Encoded(r.prompt + r.rejected + [EOS_ID], len(r.prompt), False) for r in rows]
    return EncodedRows(chosen, rejected, [len(c.ids) for c in chosen], 0, 0)


def one_pass(model: torch.nn.Module, data: EncodedRows) -> float:
    """Forward + backward of every pair, one at a time; seconds."""
    objective = get_objective("redi")
    start = time.perf_counter()
    for i in range(len(data.chosen)):
        out = objective(policy_logps(model, collate_rows(data, [i], PAD_ID)), None, alpha=0.8)
        out.loss().backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = pairs(args.rows, args.seed)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rows} pairs, {args.repeats} repeats")
    for name in args.models.split(","):
        eager, compiled = make_model(name, args.seed), make_model(name, args.seed)
        compile_layers(compiled)
        first = one_pass(compiled, data)  # compiles (dynamic shapes after the second length)
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(args.repeats):
            times["eager"].append(one_pass(eager, data))
            times["compiled"].append(one_pass(compiled, data))
        e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
        print(
            f"{name}: first compiled pass {first:.1f} s (compilation included); per pass eager {e:.2f} s, "
            f"compiled {c:.2f} s: eager/compiled {e / c:.2f}x (repeats {times})"
        )


if __name__ == "__main__":
    main()
