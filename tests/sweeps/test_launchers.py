"""The sweep launchers without SLURM: member states, the members table, failures that do not stop the others."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import submitit
from hydra import compose, initialize_config_dir
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from submitit.core.utils import FailedJobError, UncompletedJobError

import redi.run  # noqa: F401  (registers schemas and resolvers)
from redi.sweeps import launchers
from redi.sweeps import table as members_table
from redi.sweeps.table import Member, SweepMembersFailed, member_state, read_table, write_table

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"


def _ret(status: JobStatus, run_dir: Path | None = None, value: Any = None) -> JobReturn:
    hydra_cfg = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(run_dir)}}}) if run_dir else None
    return JobReturn(overrides=[], hydra_cfg=hydra_cfg, status=status, _return_value=value)


def _status(run_dir: Path, state: str, step: int = 7) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "status.json").write_text(json.dumps({"state": state, "step": step}))
    return run_dir


# ---------------------------------------------------------------------------------------------------------------
# member_state


@pytest.mark.parametrize("state", ["completed", "collapsed", "diverged", "failed"])
def test_state_comes_from_status_json_when_the_job_returned(state):
    assert member_state(None, _ret(JobStatus.COMPLETED), {"state": state, "step": 3}) == state


def test_job_error_is_failed_whatever_status_json_says():
    assert member_state(FailedJobError("boom"), None, {"state": "completed"}) == "failed"


def test_task_exception_is_failed():
    assert member_state(None, _ret(JobStatus.FAILED, value=ValueError("x")), {"state": "running"}) == "failed"


def test_returned_without_status_json_is_completed():
    assert member_state(None, _ret(JobStatus.COMPLETED), None) == "completed"


@pytest.mark.parametrize("state", ["running", "pending", "something-new"])
def test_returned_while_status_is_not_final_is_failed(state):
    assert member_state(None, _ret(JobStatus.COMPLETED), {"state": state}) == "failed"


@pytest.mark.parametrize("job_error", [None, UncompletedJobError("Job 5_1 has not produced any output")])
def test_an_interrupted_run_is_interrupted_in_the_table_too(job_error):
    """SIGTERM checkpointed it and status.json says "interrupted" (resumable): the table agrees, job or no job."""
    ret = None if job_error else _ret(JobStatus.COMPLETED, value={"state": "interrupted"})
    assert member_state(job_error, ret, {"state": "interrupted", "step": 7}) == "interrupted"


def test_read_status_tolerates_missing_and_malformed_files(tmp_path):
    assert members_table.read_status(tmp_path / "absent") is None
    assert members_table.read_status("") is None
    (tmp_path / "status.json").write_text("{not json")
    assert members_table.read_status(tmp_path) is None
    (tmp_path / "status.json").write_text('{"state": "collapsed", "step": 4}')
    assert members_table.read_status(tmp_path) == {"state": "collapsed", "step": 4}


def test_requeue_count_reads_slurm_restart_count(monkeypatch):
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert launchers.requeue_count() == 0
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert launchers.requeue_count() == 2


# ---------------------------------------------------------------------------------------------------------------
# the table


def _members() -> list[Member]:
    return [
        Member(0, "alpha=0.2", "12_0", "completed", 60, "/r/alpha=0.2", "/r/alpha=0.2/run.log"),
        Member(
            1,
            "alpha=oops",
            "12_1",
            "failed",
            None,
            "",
            "/r/.submitit/12_1/12_1_0_log.err",
            "ValidationError: x",
        ),
        Member(2, "alpha=1.0", "12_2", "collapsed", 31, "/r/alpha=1.0", "/r/alpha=1.0/run.log"),
    ]


def test_table_round_trips_through_tsv(tmp_path):
    path = tmp_path / "sweep" / "members.tsv"
    write_table(_members(), path)
    assert path.read_text().splitlines()[0].split("\t") == list(members_table.COLUMNS)
    assert read_table(path) == _members()


def test_text_table_has_a_line_per_member_with_state_and_log():
    lines = members_table.format_table(_members()).splitlines()
    assert len(lines) == 4
    for line, m in zip(lines[1:], _members(), strict=True):
        assert m.state in line and m.log in line and m.job_id in line


def test_summary_counts_states():
    assert members_table.summarize(_members()) == "1 collapsed, 1 completed, 1 failed"


def test_first_line_of_a_remote_traceback_is_its_last_line():
    err = FailedJobError(
        "Job (task=0) failed during processing with trace:\n---\nTraceback ...\n  File x\nValueError: bad\n"
    )
    assert members_table.error_line(err) == "ValueError: bad"
    assert members_table.error_line(None) == ""


def test_a_job_without_a_result_is_said_so_not_by_its_logs_last_line():
    err = UncompletedJobError(
        "Job 41 (task: 0) with path /sweep/.submitit/41/41_0_result.pkl\n"
        "has not produced any output (state: INTERRUPTED)\nError stream produced:\n----\n"
        "[18:52:21][redi.progress][INFO] train: 7/28 steps (25%) loss 0.9573\n"
    )
    assert (
        members_table.error_line(err) == "Job 41 (task: 0) has not produced any output (state: INTERRUPTED)"
    )


def test_a_local_job_killed_by_a_signal_names_it(tmp_path):
    executor = submitit.LocalExecutor(folder=tmp_path)
    job = executor.submit(time.sleep, 60)
    while job._process.poll() is None and not (tmp_path / f"{job.job_id}_0_log.out").exists():
        time.sleep(0.1)
    job._process.send_signal(signal.SIGKILL)
    job._process.wait()
    assert launchers._killed_by(job) == "SIGKILL"
    assert launchers._killed_by(SimpleNamespace(job_id="7")) is None  # a SLURM job: no local process


def test_failure_message_names_the_failed_members_and_the_table(tmp_path):
    path = tmp_path / "members.tsv"
    assert members_table.failure_message(_members(), path) == (
        f"1 of 3 sweep members did not finish (#1 failed); the others ran to their end. See {path}"
    )
    stopped = [*_members(), Member(3, "a=4", "5_3", "interrupted", 7, "", "")]
    assert members_table.failure_message(stopped, path) == (
        "2 of 4 sweep members did not finish (#1 failed, #3 interrupted); the others ran to their end; the "
        f"interrupted ones resume when the same command runs again. See {path}"
    )
    assert members_table.failure_message([m for m in _members() if not m.failed], path) is None


# ---------------------------------------------------------------------------------------------------------------
# launch(): every member is waited for, failures are collected, the table is written


class _FakeJob:
    def __init__(self, job_id: str, outcome: JobReturn | BaseException, folder: Path) -> None:
        self.job_id = job_id
        self._outcome = outcome
        self.paths = SimpleNamespace(stderr=folder / f"{job_id}_0_log.err")
        self.waited = False

    def results(self) -> list[JobReturn]:
        self.waited = True
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return [self._outcome]


class _FakeExecutor:
    def __init__(self, outcomes: list[JobReturn | BaseException], folder: Path) -> None:
        self.jobs = [_FakeJob(f"5_{i}", o, folder) for i, o in enumerate(outcomes)]
        self.calls: list[tuple[Any, ...]] = []

    def map_array(self, fn: Any, *args: Any) -> list[_FakeJob]:
        self.calls.append(args)
        return self.jobs


class _Loader:
    def load_sweep_config(self, config: Any, overrides: list[str]) -> Any:
        if any("oops" in o for o in overrides):
            raise ValueError("cannot compose")
        sweep = OmegaConf.to_container(config.hydra.sweep)
        return OmegaConf.create({"hydra": {"sweep": {**sweep, "subdir": overrides[0]}, "job": {}}})


def _launcher(tmp_path: Path, outcomes: list[JobReturn | BaseException]) -> tuple[Any, _FakeExecutor]:
    from hydra_plugins.redi_launchers import SlurmLauncher

    launcher = SlurmLauncher(submitit_folder=str(tmp_path / ".submitit/%j"), timeout_min=1, max_num_timeout=2)
    launcher.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path), "subdir": "x"}}})
    launcher.hydra_context = SimpleNamespace(config_loader=_Loader())
    fake = _FakeExecutor(outcomes, tmp_path / ".submitit")
    launcher._executor = lambda: fake
    return launcher, fake


def test_launch_waits_for_every_member_and_reports_each(tmp_path, caplog):
    ok = _status(tmp_path / "a=1", "completed", 60)
    collapsed = _status(tmp_path / "a=2", "collapsed", 31)
    crashed_run = _status(tmp_path / "a=4", "failed", 5)
    outcomes = [
        FailedJobError("trace\nConfigCompositionException: Error merging 'a=oops'"),  # first member fails
        _ret(JobStatus.COMPLETED, ok, {"state": "completed"}),
        _ret(JobStatus.COMPLETED, collapsed, {"state": "collapsed"}),
        UncompletedJobError("Job 5_3 (task: 0) with path ... has not produced any output (state: TIMEOUT)"),
        _ret(JobStatus.COMPLETED, crashed_run, {"state": "failed"}),
    ]
    launcher, fake = _launcher(tmp_path, outcomes)
    overrides = [["a=oops"], ["a=1"], ["a=2"], ["a=3"], ["a=4"]]
    with caplog.at_level(logging.INFO):
        returns = launcher.launch(overrides, initial_job_idx=0)

    assert all(j.waited for j in fake.jobs)
    assert [r.status for r in returns] == [
        JobStatus.FAILED,
        JobStatus.COMPLETED,
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.FAILED,
    ]
    with pytest.raises(
        SweepMembersFailed, match=r"3 of 5 sweep members did not finish \(#0 failed, #3 failed, #4 failed\)"
    ):
        _ = returns[0].return_value
    assert returns[1].return_value == {"state": "completed"}

    table = read_table(tmp_path / "members.tsv")
    assert [m.state for m in table] == ["failed", "completed", "collapsed", "failed", "failed"]
    assert [m.job_id for m in table] == ["5_0", "5_1", "5_2", "5_3", "5_4"]
    assert table[0].run_dir == "" and table[0].log.endswith("5_0_0_log.err")
    assert "ConfigCompositionException" in table[0].error
    assert table[3].run_dir == str(tmp_path / "a=3") and "TIMEOUT" in table[3].error
    assert table[1].step == 60 and table[1].error == ""
    assert "3 failed" in caplog.text and "members.tsv" in caplog.text


def test_launch_with_no_failure_returns_the_members_results(tmp_path):
    run = _status(tmp_path / "a=1", "diverged", 9)
    launcher, _ = _launcher(tmp_path, [_ret(JobStatus.COMPLETED, run, "value")])
    returns = launcher.launch([["a=1"]], initial_job_idx=0)
    assert returns[0].status == JobStatus.COMPLETED and returns[0].return_value == "value"
    assert read_table(tmp_path / "members.tsv")[0].state == "diverged"


def test_members_of_later_batches_are_appended_to_the_table(tmp_path):
    launcher, _ = _launcher(tmp_path, [_ret(JobStatus.COMPLETED)])
    launcher.launch([["a=1"]], initial_job_idx=0)
    launcher._executor = lambda: _FakeExecutor([_ret(JobStatus.COMPLETED)], tmp_path)
    launcher.launch([["a=2"]], initial_job_idx=1)
    assert [(m.member, m.overrides) for m in read_table(tmp_path / "members.tsv")] == [(0, "a=1"), (1, "a=2")]


# ---------------------------------------------------------------------------------------------------------------
# the launcher configs


def _hydra_cfg(*overrides: str) -> Any:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def test_slurm_launcher_config_extends_the_plugin_and_every_option_overrides():
    cfg = _hydra_cfg(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.account=lab",
        "hydra.launcher.qos=high",
        "hydra.launcher.constraint=a100",
        "hydra.launcher.gpus_per_node=8",
        "hydra.launcher.tasks_per_node=8",
        "hydra.launcher.cpus_per_task=10",
        "hydra.launcher.mem_gb=400",
        "hydra.launcher.timeout_min=600",
        "hydra.launcher.array_parallelism=4",
        "hydra.launcher.max_num_timeout=5",
        "hydra.launcher.setup=[module load cuda]",
        "+hydra.launcher.additional_parameters.mail-type=END",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.redi_launchers.SlurmLauncher"
    assert (launcher.partition, launcher.account, launcher.qos, launcher.constraint) == (
        "gpu",
        "lab",
        "high",
        "a100",
    )
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.cpus_per_task, launcher.mem_gb) == (
        8,
        8,
        10,
        400,
    )
    assert (launcher.timeout_min, launcher.array_parallelism, launcher.max_num_timeout) == (600, 4, 5)
    assert list(launcher.setup) == ["module load cuda"]
    assert dict(launcher.additional_parameters) == {"mail-type": "END"}


def test_slurm_launcher_requeues_by_default():
    assert _hydra_cfg("hydra/launcher=slurm").hydra.launcher.max_num_timeout > 0


def test_local_launcher_config():
    launcher = _hydra_cfg("hydra/launcher=local", "hydra.launcher.timeout_min=5").hydra.launcher
    assert launcher._target_ == "hydra_plugins.redi_launchers.LocalLauncher" and launcher.timeout_min == 5


def test_sweep_options_are_passed_to_submitit(tmp_path):
    from hydra_plugins.redi_launchers import SlurmLauncher

    launcher = SlurmLauncher(
        submitit_folder=str(tmp_path / "%j"),
        partition="gpu",
        timeout_min=7,
        max_num_timeout=4,
        array_parallelism=3,
        setup=["echo hi"],
        additional_parameters={"mail-type": "END"},
        tasks_per_node=2,
    )
    executor = launcher._executor()
    params = executor._executor.parameters
    assert executor._executor.max_num_timeout == 4
    assert params["partition"] == "gpu" and params["time"] == 7 and params["array_parallelism"] == 3
    assert params["setup"] == ["echo hi"] and params["additional_parameters"] == {"mail-type": "END"}
    assert params["ntasks_per_node"] == 2


# ---------------------------------------------------------------------------------------------------------------
# a real sweep through submitit's local executor (no SLURM): a failing member does not stop the others

APP = """
import json
from pathlib import Path

from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig


@dataclass
class App:
    x: int = 0


ConfigStore.instance().store(name="app_schema", node=App)


@hydra.main(version_base="1.3", config_path=".", config_name="app")
def main(cfg) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    if cfg.x == 2:
        raise RuntimeError("member two breaks")
    if cfg.x == 4:
        os._exit(3)  # the job's process dies without a result
    (out / "status.json").write_text(json.dumps({"state": "collapsed" if cfg.x == 3 else "completed", "step": cfg.x}))


if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_local_sweep_with_failing_members_reports_all(tmp_path):
    """A raising member and a member whose process dies do not stop the others; the multirun then exits 1."""
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "app.yaml").write_text(
        f"defaults: [app_schema, _self_]\nhydra:\n  searchpath: ['file://{CONF}']\n  sweep:\n    dir: {tmp_path}/sweep\n"
        "    subdir: ${hydra.job.override_dirname}\n"
    )
    proc = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=local", "x=1,2,3,4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 of 4 sweep members did not finish (#1 failed, #3 failed)" in proc.stderr
    table = read_table(tmp_path / "sweep" / "members.tsv")
    assert [(m.overrides, m.state) for m in table] == [
        ("x=1", "completed"),
        ("x=2", "failed"),
        ("x=3", "collapsed"),
        ("x=4", "failed"),
    ]
    assert "member two breaks" in table[1].error
    assert table[3].error and Path(table[3].log).exists()
    assert (tmp_path / "sweep" / "x=1" / "status.json").exists()


def test_check_layout_wants_one_task_per_gpu() -> None:
    from redi.sweeps.launchers import check_layout

    check_layout({"nodes": 2, "tasks_per_node": 8, "gpus_per_node": 8})
    check_layout({"nodes": 2, "tasks_per_node": 1, "gpus_per_node": None})  # CPU tasks
    with pytest.raises(
        ValueError,
        match=r"gpus_per_node=8 with hydra.launcher.tasks_per_node=1: .*set hydra.launcher.tasks_per_node=8",
    ):
        check_layout({"nodes": 2, "tasks_per_node": 1, "gpus_per_node": 8})
    with pytest.raises(ValueError, match=r"hydra.launcher.nodes=0"):
        check_layout({"nodes": 0, "tasks_per_node": 1})
