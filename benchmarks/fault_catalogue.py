"""The catalogue's bad configs and bad data files (tests/faults/test_catalogue.py) as benchmarks/fault_trials.py
faults: each through the real ``python -m redi.run experiment=smoke``, timed to the refusal; and the time to refuse
a bad config with no experiment at all."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from collections.abc import Callable

from fault_cases import Bench, Trial, observe, said

from tests.faults.test_catalogue import BAD_CONFIGS, BAD_DATA


def reject_time(bench: Bench, rng: random.Random, i: int) -> Trial:
    """The time to reject a bad config with no experiment: ``python -m redi.run lr=nan trainer.threads=0``."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "redi.run", "lr=nan", "trainer.threads=0"]
    out = subprocess.run(cmd, cwd=bench.work, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    message = said(out.stderr, bench.work, "redi: error")
    return Trial([out.returncode], "-", None, None, None, message, seconds, "no run directory is made")


def bad_config(overrides: list[str], says: str):
    def fault(bench: Bench, rng: random.Random, i: int) -> Trial:
        run_dir = bench.run_dir("config-" + re.sub(r"\W+", "_", " ".join(overrides)) + f"-{i}")
        code, out, seconds = bench.timed(run_dir, *overrides)
        detail = f"names it as the catalogue expects: {'yes' if says in out else 'NO'}"
        return observe(bench, run_dir, [code], said(out, run_dir, "redi: error"), seconds, detail)

    return fault


def bad_data(name: str):
    filename, content, says = BAD_DATA[name]

    def fault(bench: Bench, rng: random.Random, i: int) -> Trial:
        run_dir = bench.run_dir("data-" + re.sub(r"\W+", "_", name) + f"-{i}")
        path = run_dir.parent / filename
        path.write_bytes(content)
        benchmark = (
            run_dir.parent / "benchmark.jsonl"
        )  # the smoke run's synthetic benchmark needs synthetic data
        benchmark.write_text('{"problem": "What is 1 + 1?", "answer": "2"}\n')
        overrides = [
            "data.source=local",
            f"data.path={path}",
            "data.max_row_mb=0.5",
            "data.max_file_mb=1",
            "eval.benchmarks.synthetic.source=local",
            f"eval.benchmarks.synthetic.path={benchmark}",
        ]
        code, out, seconds = bench.timed(run_dir, *overrides)
        ok = says.format(path=path) in out
        message = said(out, run_dir, "redi: error").replace(str(path), f"<{filename}>")
        return observe(
            bench, run_dir, [code], message, seconds, f"names file/line/field: {'yes' if ok else 'NO'}"
        )

    return fault


def catalogue_sample(seed: int, k: int) -> list[tuple[str, str, Callable]]:
    """``k`` bad configs and ``k`` bad data files from the catalogue, chosen by ``seed``."""
    rng = random.Random(f"{seed}:catalogue")
    configs = rng.sample(BAD_CONFIGS, min(k, len(BAD_CONFIGS)))
    files = rng.sample(sorted(BAD_DATA), min(k, len(BAD_DATA)))
    return [("bad-config", f"bad config `{' '.join(o)}`", bad_config(o, s)) for o, s in configs] + [
        ("bad-data", f"bad data file: {n}", bad_data(n)) for n in files
    ]
