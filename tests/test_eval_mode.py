"""Evaluation alone, from the same entry point: mode=eval on a local model directory and on a run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.eval.conftest import build_tiny

pytestmark = pytest.mark.slow


def test_eval_mode_on_a_model_directory_and_a_run_directory(tmp_path, shared_data):
    model, tokenizer = build_tiny()
    model_dir = tmp_path / "tiny" / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (tmp_path / "tiny" / "status.json").write_text(json.dumps({"state": "completed"}))
    for target, name in ((model_dir, "from_model"), (tmp_path / "tiny", "from_run")):
        run_dir = tmp_path / name
        args = [
            "mode=eval",
            f"model.init_from={target}",
            "eval=math500",
            "eval.engine=hf",
            "eval.benchmarks.math500.source=local",
            f"eval.benchmarks.math500.path={shared_data}/benchmarks/math.json",
            "eval.benchmarks.math500.limit=3",
            "eval.num_samples=2",
            "eval.max_new_tokens=8",
            "eval.batch_size=6",
            "logger=off",
            f"hydra.run.dir={run_dir}",
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "redi.run", *args],
            capture_output=True,
            text=True,
            env={**os.environ},
            cwd=tmp_path,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        status = json.loads((run_dir / "status.json").read_text())
        assert status["state"] == "completed"
        assert status["final_metrics"]["eval/math500/pass@1"] == 0.0  # an untrained model
        records = (run_dir / "eval" / "step_0.jsonl").read_text().splitlines()
        assert len(records) == 6
        assert "math500 0.000" in proc.stdout
