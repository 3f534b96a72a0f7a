"""Batch sizes against the rows a user's file builds, typed as the user would: ``python -m redi.run
experiment=smoke data.source=local data.path=...`` on the 20-row Open-R1 fixture (17 stage-1 rows, the smoke
run's stage-1 batch is 32). Fewer rows than the batch train as one smaller batch; fewer rows than the micro-batches
of a step are refused in one line naming the key as typed, before any training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "fixtures" / "openr1_hand.jsonl"
SFT_ROWS = 17  # the fixture's rows with a correct trace (its funnel's sft_rows)
# mode=stage1: the stage where the batch met the data; no synthetic benchmark (it needs data.source=synthetic)
COMMON = ["experiment=smoke", "mode=stage1", "logger=off", "data.source=local", f"data.path={FIXTURE}",
          "~eval.benchmarks.synthetic"]  # fmt: skip

pytestmark = pytest.mark.slow


def redi_run(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m redi.run`` in ``cwd`` with its own cache (the stage-1 directory is the only one under it)."""
    return subprocess.run(
        [sys.executable, "-m", "redi.run", *COMMON, f"paths.cache_dir={cwd / 'cache'}", *overrides],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_batch_larger_than_the_data_trains_one_step_of_every_row(tmp_path):
    proc = redi_run(tmp_path)  # stage1.micro_batch_size=32 (the smoke experiment's) against 17 rows
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    [stage1] = [p for p in (tmp_path / "cache" / "stage1").iterdir() if p.is_dir()]
    status = json.loads((stage1 / "status.json").read_text())
    assert (status["state"], status["step"]) == ("completed", 1)  # stage1.epochs=1: one step of all 17 rows
    note = (
        f"{SFT_ROWS} training rows are fewer than the global batch (stage1.micro_batch_size=32 x "
        f"stage1.grad_accum_steps=1 x world size 1): each epoch is one step of all {SFT_ROWS} rows"
    )
    assert note in status["warnings"] and note in out
    [row] = [json.loads(line) for line in (stage1 / "metrics.jsonl").read_text().splitlines()]
    assert (row["step"], row["train/epoch"]) == (1, 1.0)  # the one step was the whole epoch


def test_more_micro_batches_than_rows_is_refused_in_one_line_naming_the_key(tmp_path):
    proc = redi_run(tmp_path, "stage1.micro_batch_size=1", "stage1.grad_accum_steps=32")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("redi: error:")]
    assert errors == [
        f"redi: error: {SFT_ROWS} training rows cannot fill the 32 micro-batches of a step "
        "(stage1.grad_accum_steps=32 x world size 1): lower stage1.grad_accum_steps or add data"
    ], proc.stderr[-4000:]
    [stage1] = [p for p in (tmp_path / "cache" / "stage1").iterdir() if p.is_dir()]
    assert (
        not (stage1 / "metrics.jsonl").exists() or not (stage1 / "metrics.jsonl").read_text()
    )  # no step ran
