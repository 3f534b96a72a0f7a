"""How a failed sweep member's reason is recorded, and why an interrupted SLURM task leaves no result.

The batch log lines are srun's own wording (slurm 22.05, seen on the local two-node cluster).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from submitit.core.utils import UncompletedJobError

from redi.sweeps.table import record_failure, srun_task_failures

BATCH_LOG = """srun: error: node2: task 1: Killed
srun: Force Terminated StepId=3.0
srun: error: node1: tasks 0-1: Exited with exit code 1
srun: error: node2: task 1: Killed
"""


def _batch_log(tmp_path: Path, text: str = BATCH_LOG) -> Path:
    path = tmp_path / "3_0_log.err"
    path.write_text(text)
    return path


def _run_dir(tmp_path: Path, **status: object) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "status.json").write_text(json.dumps(status))
    return run_dir


def test_srun_task_failures_name_rank_and_node_once_each(tmp_path: Path) -> None:
    assert srun_task_failures(_batch_log(tmp_path)) == [
        "rank 1 on node2: Killed",
        "ranks 0-1 on node1: Exited with exit code 1",
    ]
    assert srun_task_failures(tmp_path / "absent.err") == []


def test_a_job_that_died_without_the_run_recording_it_is_marked_failed(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, state="running", step=4)
    error = UncompletedJobError("Job 3 (task: 1) has not produced any output (state: FAILED)")
    log = _batch_log(tmp_path, "srun: error: node2: task 1: Killed\n")
    reason = record_failure(str(run_dir), {"state": "running", "step": 4}, error, log)
    assert reason == (
        "SLURM: rank 1 on node2: Killed; Job 3 (task: 1) has not produced any output (state: FAILED)"
    )
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["reason"] == reason and status["step"] == 4


def test_the_runs_own_reason_is_kept_after_sruns_account(tmp_path: Path) -> None:
    own = "lost rank 1 on node2 (the only other rank) during a collective"
    run_dir = _run_dir(tmp_path, state="failed", reason=own)
    log = _batch_log(tmp_path, "srun: error: node2: task 1: Killed\n")
    reason = record_failure(str(run_dir), {"state": "failed", "reason": own}, None, log)
    assert reason == f"SLURM: rank 1 on node2: Killed; {own}"
    assert json.loads((run_dir / "status.json").read_text())["reason"] == reason


def test_a_run_that_recorded_its_result_keeps_it(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, state="completed", step=60)
    log = _batch_log(tmp_path, "srun: error: node2: task 1: Aborted\n")
    error = UncompletedJobError("Job 3 (task: 1) has not produced any output (state: FAILED)")
    reason = record_failure(str(run_dir), {"state": "completed", "step": 60}, error, log)
    assert reason.startswith("SLURM: rank 1 on node2: Aborted; Job 3 (task: 1)")
    assert json.loads((run_dir / "status.json").read_text()) == {"state": "completed", "step": 60}


def test_nothing_is_written_without_a_run_directory(tmp_path: Path) -> None:
    reason = record_failure("", None, ValueError("cannot compose"), tmp_path / "absent.err")
    assert reason == "cannot compose" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("launcher", "exits"), [("SlurmLauncher", True), ("LocalLauncher", False)])
def test_an_interrupted_run_leaves_no_result_under_slurm_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, launcher: str, exits: bool
) -> None:
    import hydra_plugins.redi_launchers as plugins

    value = {"state": "interrupted", "run_dir": str(tmp_path), "reason": "preempted at step 5"}
    ret = JobReturn(overrides=[], status=JobStatus.COMPLETED, _return_value=value)
    cls = getattr(plugins, launcher)
    # the base class in the launcher's own MRO: Hydra's plugin discovery may have imported the plugin module
    # again since this file imported it, so submitit_launcher.BaseSubmititLauncher can be another class object
    base = next(c for c in cls.__mro__ if c.__name__ == "BaseSubmititLauncher")
    monkeypatch.setattr(base, "__call__", lambda self, *a, **k: ret)
    member = cls(submitit_folder=str(tmp_path))
    if exits:
        with pytest.raises(SystemExit):
            member([], "hydra.sweep.dir", 0, "job_id_for_0", {})
    else:
        assert member([], "hydra.sweep.dir", 0, "job_id_for_0", {}) is ret
    done = JobReturn(overrides=[], status=JobStatus.COMPLETED, _return_value={"state": "completed"})
    monkeypatch.setattr(base, "__call__", lambda self, *a, **k: done)
    assert member([], "hydra.sweep.dir", 0, "job_id_for_0", {}) is done
