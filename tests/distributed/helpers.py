"""Launching ``python -m redi.run`` in one process or under torchrun, and comparing the loss curves of two runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the smoke experiment, four optimizer steps of micro-batches of 4, one thread per process, nothing but training
COMMON = [
    "experiment=smoke",
    "logger=off",
    "trainer.progress_bar=false",
    "trainer.threads=1",
    "trainer.max_steps=4",
    "trainer.micro_batch_size=4",
    "eval.every_n_steps=0",
    "eval.at_start=false",
    "eval.at_end=false",
]
TIMING_KEYS = {"train/tokens_per_s"}
# (relative, absolute) tolerance per metric: sums over a different grouping of the same rows differ in the last
# float32 bits; a DPO margin starts at 0 (policy = reference), where only the absolute tolerance means anything
TOLERANCES = {
    "train/loss": (1e-5, 1e-9),
    "train/logps_chosen": (1e-5, 1e-9),
    "train/logps_rejected": (1e-5, 1e-9),
    "train/logps_chosen_per_token": (1e-5, 1e-9),
    "train/logps_rejected_per_token": (1e-5, 1e-9),
    "train/rewards_chosen": (1e-4, 1e-5),
    "train/rewards_rejected": (1e-4, 1e-5),
    "train/margin": (1e-4, 1e-5),
    "train/grad_norm": (1e-4, 1e-9),
    "train/update_norm": (1e-4, 1e-9),
}


def run_env(cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a launched run: offline, one OpenMP thread, the given cache directory."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "REDI_CACHE_DIR": str(cache),
        "HF_DATASETS_CACHE": str(cache / "hf-datasets"),
        **(extra or {}),
    }


def launch(
    overrides: Sequence[str], run_dir: Path, cache: Path, nproc: int = 1, check: bool = True
) -> subprocess.CompletedProcess:
    """``python -m redi.run`` (nproc 1) or ``torchrun --standalone --nproc_per_node=nproc -m redi.run``."""
    if nproc == 1:
        prefix = [sys.executable, "-m", "redi.run"]
    else:
        prefix = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "redi.run",
        ]
    proc = subprocess.run(
        [*prefix, *COMMON, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        env=run_env(cache),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(prefix)} {' '.join(overrides)} exited {proc.returncode}\n"
            f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def metrics(run_dir: Path) -> list[dict]:
    """metrics.jsonl without the timing keys."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def train_rows(run_dir: Path) -> list[dict]:
    return [r for r in metrics(run_dir) if "train/loss" in r]


def max_relative_differences(a: list[dict], b: list[dict]) -> dict[str, float]:
    """Per metric, the largest |a - b| / max(|a|, |b|) over the steps (0 where both are 0)."""
    out: dict[str, float] = {}
    for ra, rb in zip(a, b, strict=True):
        for key in ra.keys() & rb.keys():
            x, y = ra[key], rb[key]
            if isinstance(x, (int, float)) and isinstance(y, (int, float)):
                scale = max(abs(x), abs(y))
                out[key] = max(out.get(key, 0.0), abs(x - y) / scale if scale else 0.0)
    return out


def assert_same_curves(
    a: list[dict], b: list[dict], tolerances: dict[str, tuple[float, float]] = TOLERANCES
) -> dict[str, float]:
    """Same steps and keys; the metrics in ``tolerances`` within their relative tolerance, the others exact."""
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for ra, rb in zip(a, b, strict=True):
        for key, x in ra.items():
            y = rb[key]
            if key in tolerances:
                rel, abs_ = tolerances[key]
                assert math.isclose(x, y, rel_tol=rel, abs_tol=abs_), (ra["step"], key, x, y)
            else:
                assert x == y, (ra["step"], key, x, y)
    return max_relative_differences(a, b)
