"""Synthetic open-r1/OpenR1-Math-Raw at the real dataset's size and shape, deterministic from a seed.

    python benchmarks/openr1_raw_synth.py --out DIR [--fraction 0.1] [--seed 0] [--rows-per-shard 25000]

Writes DIR/data/train-00000.parquet, ... (zstd, row groups of 500 rows, memory bounded by one row group) and
DIR/manifest.json (written last: the settings, the counts below, the files' sizes). Row ``i`` is made from its
own generator (seed, i), so ``--fraction f`` writes exactly the first round(f x rows) rows of the full data.

The schema is the hub dataset's: problem, solution, answer, problem_type, question_type, problem_is_valid,
solution_is_valid, source, synthetic, generations, generations_count, correctness {llama_verification,
math_verify_answer, math_verify_reparsed_answer} (lists aligned with generations), reparsed_answers; no uuid.
Facts it follows (dataset card and the Open-R1 posts): 516,499 problems, 1,209,403 R1 generations (2.34 per
problem: mostly 2, some 4, up to 8), a 16k-token generation limit (75 % of problems solvable in under 8k), sources
of NuminaMath-1.5 including cn_k12, Llama-3.3-70B and Math-Verify verdicts on every trace. Assumed and calibrated
(see docs/performance.md "Data build at full size"): source shares, validity rate, the per-problem difficulty
(a Beta per source group) tuned so the paper's rules keep about the paper's 77,629 SFT problems and 53,175 pairs,
trace lengths (log-normal R1 tokens, longer when wrong, 8 % of wrong traces cut at the limit), null Llama
verdicts (1.5 % of rows without any, 1 % of the other verdicts). A known number of problems is copied from the
benchmark files (``plant_rate``), every other problem is checked free of a shared 8-gram (redi's rule), so the
decontamination step has exactly those to remove.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openr1_synth_text import ParagraphPool, answer, problem  # noqa: E402

FULL_ROWS = 516_499
BENCHMARK_FILES = ("aime.json", "amc.json", "math.json", "minerva.json", "olympiad_bench.json")
# REDI_BENCHMARKS_DIR, as conf/eval/paper_local.yaml reads it; else ../shared/data/benchmarks beside the clone
DEFAULT_BENCHMARKS = Path(
    os.environ.get(
        "REDI_BENCHMARKS_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
    )
)
TRACE_COUNTS = np.array([2, 3, 4, 5, 6, 7, 8])
TRACE_P = np.cumsum(
    [0.841, 0.02, 0.119, 0.005, 0.008, 0.002, 0.005]
)  # mean 2.345 (card: 1,209,403 / 516,499)
# source -> share of rows; difficulty: Beta(a, b) of a problem's chance that R1 solves one trace
SOURCES = {
    "cn_k12": 0.33, "olympiads": 0.30, "cn_contest": 0.07, "aops_forum": 0.06, "synthetic_math": 0.08,
    "orca_math": 0.05, "synthetic_amc": 0.04, "inequalities": 0.02, "number_theory": 0.015, "amc_aime": 0.01,
    "olympiads_ref": 0.005,
}  # fmt: skip
SOURCE_NAMES = tuple(SOURCES)
SOURCE_CUM = np.cumsum(list(SOURCES.values()))
DIFFICULTY = {"cn_k12": (2.0, 1.2), "other": (0.16, 0.62)}
PROBLEM_TYPES = ("Algebra", "Geometry", "Number Theory", "Combinatorics", "Calculus", "Inequalities", "Other")
R1_TOKEN_LIMIT = 16_384
BYTES_PER_TOKEN = (
    3.9  # of the traces under the counting tokenizer (measured by benchmarks/data_build_scale.py)
)

VERDICTS = pa.struct(
    [
        (k, pa.list_(pa.bool_()))
        for k in ("llama_verification", "math_verify_answer", "math_verify_reparsed_answer")
    ]
)
SCHEMA = pa.schema(
    [("problem", pa.string()), ("solution", pa.string()), ("answer", pa.string()), ("problem_type", pa.string()),
     ("question_type", pa.string()), ("problem_is_valid", pa.string()), ("solution_is_valid", pa.string()),
     ("source", pa.string()), ("synthetic", pa.bool_()), ("generations", pa.list_(pa.string())),
     ("generations_count", pa.int64()), ("correctness", VERDICTS), ("reparsed_answers", pa.list_(pa.string()))]
)  # fmt: skip


@dataclass
class SynthConfig:
    """What the generated data depends on (all in the manifest)."""

    seed: int = 0
    rows: int = FULL_ROWS  # the full size; ``fraction`` takes a prefix of it
    fraction: float = 1.0
    rows_per_shard: int = 25_000  # 0: one file
    row_group: int = 500
    plant_rate: float = 0.0015  # share of rows whose problem is a benchmark problem
    long_problem_rate: float = 0.002  # problems of 400-700 words (over the 800-token prompt limit)
    pool_size: int = 100_000
    benchmarks: str = str(DEFAULT_BENCHMARKS)

    @property
    def n_rows(self) -> int:
        return round(self.rows * self.fraction)


def benchmark_problems(folder: str | Path) -> list[str]:
    """The problems of the five evaluation benchmarks, in a fixed order (the decontamination texts)."""
    from redi.data.decontaminate import read_benchmark_problems

    return [p for name in BENCHMARK_FILES for p in read_benchmark_problems(Path(folder) / name)]


class RowMaker:
    """Makes row ``i`` from its own generators; counts what the paper's rules will see into ``stats``."""

    def __init__(self, cfg: SynthConfig) -> None:
        from redi.data.decontaminate import NgramIndex

        self.cfg = cfg
        self.pool = ParagraphPool(cfg.seed, cfg.pool_size)
        self.benchmark = benchmark_problems(cfg.benchmarks)
        self.index = NgramIndex(self.benchmark, 8)
        self.stats: Counter = Counter()

    def _lengths(
        self, rng: np.random.Generator, correct: np.ndarray, easy: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(target bytes, complete) per trace: log-normal R1 tokens, longer when wrong, cut at the token limit."""
        median = np.where(correct, 2000.0, 3200.0) * (0.7 if easy else 1.0)
        tokens = np.exp(np.log(median) + rng.normal(0, 1, len(correct)) * np.where(correct, 0.7, 0.8))
        cut = ~correct & ((rng.random(len(correct)) < 0.08) | (tokens > R1_TOKEN_LIMIT))
        tokens = np.where(cut, R1_TOKEN_LIMIT, np.clip(tokens, 150, R1_TOKEN_LIMIT - 400))
        ratio = np.exp(np.log(1.04) + 0.06 * rng.normal(0, 1, len(correct)))  # counting tokenizer / R1's
        return (tokens * ratio * BYTES_PER_TOKEN).astype(np.int64), ~cut

    def _verdicts(self, rng: np.random.Generator, correct: np.ndarray, complete: np.ndarray) -> dict:
        n = len(correct)
        u = rng.random((4, n))
        reparsed = np.where(correct, u[0] < 0.80, complete & (u[0] < 0.02))
        gold = np.where(reparsed, u[1] < 0.9, u[1] < 0.03)
        llama = [bool(x) for x in np.where(correct, u[2] < 0.93, complete & (u[2] < 0.07))]
        llama = [None if null else v for v, null in zip(llama, u[3] < 0.01, strict=True)]
        if rng.random() < 0.015:  # the judge gave no verdicts for this row
            llama = None
        return {
            "llama_verification": llama,
            "math_verify_answer": [bool(x) for x in gold],
            "math_verify_reparsed_answer": [bool(x) for x in reparsed],
        }

    def _problem(self, prng: random.Random, source: str, question_type: str) -> tuple[str, bool]:
        """(problem text, planted from a benchmark)."""
        if prng.random() < self.cfg.plant_rate:
            return f"Problem {prng.randint(1, 30)}. " + prng.choice(self.benchmark), True
        long = prng.random() < self.cfg.long_problem_rate
        words = (
            prng.randint(400, 700) if long else int(np.clip(prng.lognormvariate(np.log(38), 0.5), 12, 300))
        )
        for _ in range(50):
            text = problem(prng, source, question_type == "MCQ", words)
            if not self.index.contains(text):
                return text, False
        raise RuntimeError(f"could not make a problem free of benchmark 8-grams ({source}, {words} words)")

    def make(self, i: int) -> dict:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, i])
        prng = random.Random(cfg.seed * 1_000_003 + i)
        source = SOURCE_NAMES[int(np.searchsorted(SOURCE_CUM, rng.random() * SOURCE_CUM[-1]))]
        n = int(TRACE_COUNTS[np.searchsorted(TRACE_P, rng.random() * TRACE_P[-1])])
        u = rng.random()
        valid = "Yes" if u < 0.92 else ("No" if u < 0.995 else None)
        question_type = (
            "MCQ" if rng.random() < 0.1 else ("proof" if rng.random() < 0.05 else "math-word-problem")
        )
        p_solve = rng.beta(*DIFFICULTY["cn_k12" if source == "cn_k12" else "other"])
        correct = rng.random(n) < p_solve
        target, complete = self._lengths(rng, correct, source == "cn_k12")
        verdicts = self._verdicts(rng, correct, complete)
        gold = answer(prng)
        wrong = gold + "1" if not gold.isalpha() else "E"
        generations = [
            self.pool.trace(rng, int(b), gold if ok else wrong, bool(done))
            for b, ok, done in zip(target, correct, complete, strict=True)
        ]
        text, planted = self._problem(prng, source, question_type)
        self._count(source, valid, planted, verdicts, n)
        return {
            "problem": text, "solution": self.pool.solution(rng, gold), "answer": gold,
            "problem_type": PROBLEM_TYPES[prng.randrange(len(PROBLEM_TYPES))], "question_type": question_type,
            "problem_is_valid": valid, "solution_is_valid": "Yes" if rng.random() < 0.9 else "No",
            "source": source, "synthetic": source.startswith("synthetic"), "generations": generations,
            "generations_count": n, "correctness": verdicts,
            "reparsed_answers": [gold, "A"] if question_type == "MCQ" else [gold],
        }  # fmt: skip

    def _count(self, source: str, valid: str | None, planted: bool, verdicts: dict, n: int) -> None:
        s = self.stats
        s["rows"] += 1
        s["traces"] += n
        s[f"source:{source}"] += 1
        s["rows_planted"] += planted
        s["llama_null_rows"] += verdicts["llama_verification"] is None
        s["llama_null_traces"] += sum(v is None for v in verdicts["llama_verification"] or [])
        llama = verdicts["llama_verification"] or [None] * n
        if valid != "Yes" or source == "cn_k12":
            return
        s["rows_valid_not_cn_k12"] += 1
        s["planted_kept"] += planted
        if planted:
            return
        ok = [
            bool(a) and bool(b) for a, b in zip(llama, verdicts["math_verify_reparsed_answer"], strict=True)
        ]
        s["has_correct"] += any(ok)
        s["has_both"] += any(ok) and not all(ok)


def _columns(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pydict({k: [r[k] for r in rows] for k in SCHEMA.names}, schema=SCHEMA)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def generate(cfg: SynthConfig, out: Path, log=print) -> dict:
    """Write the first ``cfg.n_rows`` rows as Parquet shards into ``out`` (replaced); returns the manifest."""
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    maker, start = RowMaker(cfg), time.time()
    per_shard = cfg.rows_per_shard or cfg.n_rows
    files: list[Path] = []
    for first in range(0, cfg.n_rows, per_shard):
        path = tmp / "data" / f"train-{len(files):05d}.parquet"
        with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
            for lo in range(first, min(first + per_shard, cfg.n_rows), cfg.row_group):
                hi = min(lo + cfg.row_group, first + per_shard, cfg.n_rows)
                writer.write_table(_columns([maker.make(i) for i in range(lo, hi)]))
        files.append(path)
        log(f"synth: {min(first + per_shard, cfg.n_rows):,}/{cfg.n_rows:,} rows, {time.time() - start:.0f}s")
    manifest = {
        "config": asdict(cfg),
        "stats": dict(sorted(maker.stats.items())),
        "files": {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files},
        "seconds": round(time.time() - start, 1),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return manifest


def data_files(out: Path) -> list[Path]:
    """The Parquet shards of a generation, in row order."""
    return sorted((Path(out) / "data").glob("train-*.parquet"))


def read_manifest(out: Path) -> dict | None:
    """The manifest of a finished generation in ``out``, or None."""
    path = Path(out) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--fraction", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=FULL_ROWS, help="the full size (a fraction takes a prefix)")
    p.add_argument("--rows-per-shard", type=int, default=25_000, help="0: one file")
    p.add_argument("--benchmarks", default=str(DEFAULT_BENCHMARKS))
    a = p.parse_args(argv)
    if not 0 < a.fraction <= 1:
        p.error(f"--fraction must be in (0, 1], got {a.fraction}")
    cfg = SynthConfig(
        seed=a.seed,
        rows=a.rows,
        fraction=a.fraction,
        rows_per_shard=a.rows_per_shard,
        benchmarks=a.benchmarks,
    )
    manifest = generate(cfg, a.out)
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(json.dumps(manifest["stats"], indent=1))
    print(f"wrote {cfg.n_rows:,} rows to {a.out} ({size / 1e9:.2f} GB) in {manifest['seconds']:.0f}s")


if __name__ == "__main__":
    main()
