"""Small generations of benchmarks/openr1_raw_synth.py for the tests: a few hundred rows, a tiny paragraph pool,
and five benchmark files of our own (one problem shorter than 8 words, as MATH-500 has)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS_DIR))

import data_build_scale as scale  # noqa: E402, F401  (re-exported for the tests)
import openr1_raw_synth as synth  # noqa: E402

BENCHMARK_PROBLEMS = {
    "aime.json": [
        "Find the number of ordered pairs of positive integers whose product is exactly one thousand."
    ],
    "amc.json": ["What is the sum of the digits of the smallest prime larger than two hundred and twenty?"],
    "math.json": [
        "Compute $\\dbinom{8}{4}$.",
        "How many vertical asymptotes does the graph of this function have?",
    ],
    "minerva.json": ["Each of the stars in the cluster emits light at a rate proportional to its own mass."],
    "olympiad_bench.json": [
        "Determine all real numbers that satisfy the equation given in the statement below."
    ],
}


def write_benchmarks(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, problems in BENCHMARK_PROBLEMS.items():
        (folder / name).write_text(json.dumps([{"problem": p, "answer": "1"} for p in problems]))
    return folder


def small_config(benchmarks: Path, **changes) -> synth.SynthConfig:
    """200 rows, every problem from a 2,000-paragraph pool, 5 % of problems planted from the benchmarks."""
    settings = {
        "rows": 200, "rows_per_shard": 0, "row_group": 64, "pool_size": 2000, "plant_rate": 0.05,
        "benchmarks": str(benchmarks), **changes,
    }  # fmt: skip
    return synth.SynthConfig(**settings)
