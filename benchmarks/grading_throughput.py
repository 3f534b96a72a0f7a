"""Grading throughput: 8,000 samples through redi.grading.grader.Grader on this machine (2 workers by default).

Three workloads, each printed as wall time and samples/s:
  real        the 800 labelled Qwen2.5-Math responses x 10 (as k samples of a problem repeat answers; the
              workers' parse cache helps exactly as in a real evaluation), fast path on
  real/slow   the same with the fast path off (every sample through Math-Verify)
  unique      8,000 distinct fraction answers, half equivalent in another form, none string-equal to its gold
              (no fast path, no cache hit: the Math-Verify worst case for ordinary answers)
plus the adversarial inputs (power towers, deep fractions, a megabyte answer) with their wall time each.

    python benchmarks/grading_throughput.py [--workers 2] [--timeout 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from redi.config import GraderConfig
from redi.grading.grader import Grader

GRADED = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "graded"
    / "qwen25math_math_cot_100.jsonl"
)


def real_workload(repeat: int) -> tuple[list[str], list[str]] | None:
    if not GRADED.is_file():
        return None
    rows = [json.loads(line) for line in GRADED.open()]
    preds = [c for r in rows for c in r["code"]] * repeat
    golds = [r["answer"] for r in rows for _ in r["code"]] * repeat
    return preds, golds


def unique_workload(n: int) -> tuple[list[str], list[str]]:
    preds, golds = [], []
    for i in range(n):
        a, b = i + 2, 2 * i + 3
        golds.append(f"\\frac{{{a}}}{{{b}}}")
        preds.append(
            f"so \\boxed{{\\frac{{{3 * a}}}{{{3 * b}}}}}" if i % 2 == 0 else f"\\boxed{{{a + 1}/{b}}}"
        )
    return preds, golds


def run(name: str, cfg: GraderConfig, preds: list[str], golds: list[str]) -> None:
    with Grader(cfg) as g:
        start = time.perf_counter()
        verdicts = g.grade(preds, golds, progress=True)
        seconds = time.perf_counter() - start
        print(
            f"{name:10s} {len(preds)} samples  {seconds:6.2f} s  {len(preds) / seconds:8.0f} samples/s  "
            f"correct {sum(v.correct for v in verdicts)}  fast-path {g.fast_path_hits}  timeouts {g.timeouts}"
        )


def adversarial(cfg: GraderConfig) -> None:
    cases = {
        "tower 9^9^9^9^9^9^9": "\\boxed{" + "9^{" * 6 + "9" + "}" * 6 + "}",
        "factorial (10^10)!": "\\boxed{(10^{10})!}",
        "300 nested fractions": "\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 300 + "}",
        "1 MB answer (no cap)": "\\boxed{" + "1" * 1_000_000 + "}",
        "1 MB text, no box": "x" * 1_000_000,
    }
    with Grader(GraderConfig(timeout_s=cfg.timeout_s, workers=cfg.workers, max_answer_chars=None)) as g:
        g.grade(["\\boxed{1}"], ["1"])  # workers up
        for name, pred in cases.items():
            start = time.perf_counter()
            v = g.grade([pred], ["5"])[0]
            print(
                f"  {name:22s} {time.perf_counter() - start:5.2f} s  correct={v.correct} timed_out={v.timed_out}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    cfg = GraderConfig(workers=args.workers, timeout_s=args.timeout)
    real = real_workload(10)
    if real is None:
        print(f"skipping the real workload: {GRADED} not found")
    else:
        run("real", cfg, *real)
        run("real/slow", GraderConfig(workers=args.workers, timeout_s=args.timeout, fast_path=False), *real)
    run("unique", cfg, *unique_workload(8000))
    print(f"adversarial inputs (timeout {args.timeout} s):")
    adversarial(cfg)


if __name__ == "__main__":
    main()
