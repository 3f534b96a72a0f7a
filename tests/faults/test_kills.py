"""End to end on the smoke run: SIGKILL at chosen moments, SIGTERM, two launches at once; metrics.jsonl and the
final weights are compared with an uninterrupted run's."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SMOKE = [
    "experiment=smoke",
    "trainer.progress_bar=false",
    "logger.wandb_mode=disabled",
    "trainer.save_every=3",
]
TIMING = {"train/tokens_per_s"}


def launch(run_dir: Path, *extra: str, env: dict[str, str | None] | None = None) -> subprocess.Popen:
    """``python -m redi.run`` on the smoke run in ``run_dir``; ``env`` adds variables (None removes one)."""
    merged = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    env = {k: v for k, v in merged.items() if v is not None}
    cmd = [sys.executable, "-m", "redi.run", *SMOKE, *extra, f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(
        cmd, cwd=run_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def rows(run_dir: Path) -> list[dict]:
    text = (run_dir / "metrics.jsonl").read_text()
    return [
        {k: v for k, v in json.loads(x).items() if k not in TIMING} for x in text.splitlines() if x.strip()
    ]


def weights(run_dir: Path) -> str:
    return hashlib.sha256((run_dir / "model" / "model.safetensors").read_bytes()).hexdigest()


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 600) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("faults") / "uninterrupted"
    code, out = finish(launch(run_dir))
    assert code == 0, out[-3000:]
    return run_dir


def metrics_rows(n):
    return lambda run_dir: (
        (run_dir / "metrics.jsonl").exists()
        and len((run_dir / "metrics.jsonl").read_text().splitlines()) >= n
    )


MOMENTS = {
    # after the step-0 evaluation, before the first checkpoint
    "after the step-0 eval": lambda d: metrics_rows(2)(d) and not (d / "checkpoints").exists(),
    # while a checkpoint is being written (its temporary directory exists)
    "during a checkpoint write": lambda d: any((d / "checkpoints").glob(".step_*")),
    # during a step after the first checkpoint
    "during a step": lambda d: (d / "checkpoints" / "latest").exists(),
    # while the final model is written
    "during the final model write": lambda d: any(d.glob(".model.*")),
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_sigkill_then_restart_equals_the_uninterrupted_run(reference, tmp_path, moment):
    run_dir = tmp_path / "killed"
    proc = launch(run_dir)
    hit = wait_for(lambda: MOMENTS[moment](run_dir), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    killed_rows = (
        len((run_dir / "metrics.jsonl").read_text().splitlines())
        if (run_dir / "metrics.jsonl").exists()
        else 0
    )
    code, out = finish(launch(run_dir))
    assert code == 0, out[-3000:]
    print(f"{moment}: moment reached {hit}, {killed_rows} rows when killed")
    assert rows(run_dir) == rows(reference)
    assert weights(run_dir) == weights(reference)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR2])
def test_a_termination_signal_checkpoints_and_ends_interrupted(reference, tmp_path, sig):
    run_dir = tmp_path / "signalled"
    proc = launch(run_dir)
    assert wait_for(lambda: (run_dir / "checkpoints" / "latest").exists(), proc)
    proc.send_signal(sig)
    code, out = finish(proc)
    status = json.loads((run_dir / "status.json").read_text())
    assert code != 0 and status["state"] == "interrupted", out[-3000:]
    assert "checkpoint saved" in status["reason"]
    assert f"step_{status['step']}" in (run_dir / "checkpoints" / "latest").read_text()
    code, out = finish(launch(run_dir))
    assert code == 0, out[-3000:]
    assert rows(run_dir) == rows(reference) and weights(run_dir) == weights(reference)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_before_the_training_loop_ends_interrupted_and_loses_nothing(reference, tmp_path, sig):
    """During the step-0 evaluation there is no step boundary to wait for: stopped at once, recorded, resumable."""
    run_dir = tmp_path / "early"
    proc = launch(run_dir)
    log = run_dir / "run.log"
    assert wait_for(lambda: log.exists() and "evaluation at step 0: started" in log.read_text(), proc)
    proc.send_signal(sig)
    code, out = finish(proc)
    status = json.loads((run_dir / "status.json").read_text())
    assert code == 1 and status["state"] == "interrupted", out[-3000:]
    assert status["reason"] == f"{sig.name} during evaluation at step 0 (step 0)"
    assert "run the same command again to resume" in out
    code, out = finish(launch(run_dir))
    assert code == 0, out[-3000:]
    assert rows(run_dir) == rows(reference) and weights(run_dir) == weights(reference)


def test_two_launches_at_once_one_runs_the_other_names_it(reference, tmp_path):
    run_dir = tmp_path / "twice"
    first = launch(run_dir)
    assert wait_for(lambda: (run_dir / ".lock").exists() and (run_dir / ".lock").read_text().strip(), first)
    os.kill(first.pid, signal.SIGSTOP)  # held (alive, lock taken) while the second launch starts: no race
    try:
        code, out = finish(launch(run_dir))
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert code == 3 and f"is in use by pid {first.pid}" in out, out[-3000:]
    waiter = launch(run_dir, "trainer.wait_for_lock=true")
    assert finish(first)[0] == 0
    code, out = finish(waiter)
    assert code == 0 and "already finished" in out, out[-3000:]
    assert rows(run_dir) == rows(reference)
