"""Evaluation alone, from the same entry point: mode=eval on a local model directory and on a run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def _redi(*args: str, cwd) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args], capture_output=True, text=True, cwd=cwd, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _run_dir_of(proc: subprocess.CompletedProcess) -> Path:
    return Path(proc.stdout.split("run directory: ")[1].split()[0])


def test_eval_mode_takes_a_runs_checkpoint_and_its_own_eval_settings(tmp_path):
    """As typed after a smoke run: a checkpoint evaluates to the run's own evaluation at that step, byte for byte,
    and a run directory is evaluated with the run's settings (24 problems x 2 samples), except what is typed."""
    trained = _run_dir_of(_redi("experiment=smoke", "trainer.progress_bar=false", cwd=tmp_path))
    step = (trained / "checkpoints" / "latest").read_text().strip()  # step_4 (the run ended at step 8)
    relative = trained.relative_to(tmp_path)
    proc = _redi("mode=eval", f"model.init_from={relative}/checkpoints/{step}", cwd=tmp_path)
    [said] = [
        line for line in proc.stdout.splitlines() if f"mode=eval on {relative}: its own evaluation" in line
    ]
    taken = said.split("where not typed: ")[1].split(", ")
    # the smoke run's, where the defaults (the main job's) differ: its 2 samples and the column task
    assert {"eval.num_samples=2", "data.synthetic.task=column"} <= set(taken)
    assert f"accuracy of the result (pass@1, step {step[5:]})" in proc.stdout
    evaluated = _run_dir_of(proc)
    records = (evaluated / "eval" / f"{step}.jsonl").read_bytes()
    assert records == (trained / "eval" / f"{step}.jsonl").read_bytes()
    assert json.loads((evaluated / "status.json").read_text())["evaluated"] == str(
        trained / "checkpoints" / step
    )

    proc = _redi("mode=eval", f"model.init_from={relative}", "eval.num_samples=1", cwd=tmp_path)
    rows = [json.loads(r) for r in (_run_dir_of(proc) / "eval" / "step_0.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and {r["sample_index"] for r in rows} == {
        0
    }  # the run's 24 problems, 1 sample typed
    assert {r["num_tokens"] <= 64 for r in rows} == {True}  # the run's eval.max_new_tokens


def test_a_checkpoint_that_cannot_be_evaluated_is_named(tmp_path):
    from redi.model.resolve import resolve_source
    from redi.model.source import ModelSourceError

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("mode: train\n")
    (run / "status.json").write_text(json.dumps({"state": "interrupted"}))
    (run / "checkpoints" / "step_6" / "dcp").mkdir(parents=True)
    (run / "checkpoints" / "step_3").mkdir()
    (run / "checkpoints" / "step_3" / "model.safetensors").write_bytes(b"")
    cases = {
        str(
            run
        ): "has no model/ (its state is 'interrupted'); finish that run first, or evaluate a checkpoint: "
        f"model.init_from={run}/checkpoints/step_6",
        f"{run}/checkpoints/step_6": "is a sharded (trainer.distributed=fsdp) checkpoint",
        f"{run}/checkpoints/step_3": "is incomplete (its write did not finish)",
    }
    for value, says in cases.items():
        with pytest.raises(ModelSourceError) as e:
            resolve_source(value, "model.init_from")
        assert says in str(e.value) and str(e.value).startswith("model.init_from: ")
