"""Data-parallel training as a SLURM job with two tasks (``hydra.launcher.tasks_per_node=2``) on a real local cluster.

torch.distributed is set up from the SLURM tasks through submitit's TorchDistributedEnvironment (gloo on the CPU);
the job must log the loss curve of one process with twice the accumulation, the same global batch of 8 rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redi.sweeps.table import read_table
from tests.distributed.conftest import Runs, runs  # noqa: F401  (the session's shared one-process runs)
from tests.distributed.helpers import COMMON, assert_same_curves, run_env, train_rows

pytestmark = [pytest.mark.slurm, pytest.mark.distributed, pytest.mark.slow]


def test_two_slurm_tasks_match_one_process_with_twice_the_accumulation(
    slurm,
    runs: Runs,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    one = runs.get("sft-1p", ["objective=sft", "trainer.grad_accum_steps=2"])  # also fills the data cache
    sweep_root = tmp_path / "runs"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "redi.run",
            "-m",
            *COMMON,
            "objective=sft",
            "trainer.grad_accum_steps=1",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=debug",
            "hydra.launcher.tasks_per_node=2",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.timeout_min=15",
            f"paths.runs_dir={sweep_root}",
            "sweep.name=ddp",
        ],
        cwd=tmp_path,
        env=run_env(runs.cache),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    [member] = read_table(sweep_root / "sweeps" / "ddp" / "members.tsv")
    assert member.state == "completed", member
    run_dir = Path(member.run_dir)
    log = (run_dir / "run.log").read_text()
    assert "torch.distributed: 2 processes, backend gloo, launched by SLURM" in log
    assert log.count("rows after tokenisation") == 1  # rank 0 alone writes run.log
    diffs = assert_same_curves(train_rows(one), train_rows(run_dir))
    print(f"\nSLURM 2 tasks vs 1 process: largest relative differences {json.dumps(diffs)}")

    # one SLURM job with two tasks; both end, and end cleanly (submitit returns on rank 0's result)
    logs = sweep_root / "sweeps" / "ddp" / ".submitit" / member.job_id
    assert sorted(p.name for p in logs.glob("*_log.err")) == [
        f"{member.job_id}_0_log.err",
        f"{member.job_id}_1_log.err",
    ]
    state = _final_state(member.job_id, run_env(runs.cache))
    assert state == "COMPLETED|0:0", state
    for err in logs.glob("*_log.err"):
        assert "terminate called" not in err.read_text(), err


def _final_state(job_id: str, env: dict[str, str], wait_s: float = 300) -> str:
    """The job's "State|ExitCode" once it has left the queue (polls sacct; gives the last answer after wait_s)."""
    deadline = time.monotonic() + wait_s
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,ExitCode"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if out and not out.startswith(("RUNNING", "COMPLETING", "PENDING")) or time.monotonic() > deadline:
            return out
        time.sleep(0.5)
