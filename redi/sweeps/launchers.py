"""Hydra launchers for sweeps: the submitit plugin's SLURM and local launchers, tolerant of failed members.

The plugin's ``launch`` stops at the first member whose job failed. These subclasses submit the same job array
(so a requeued member still reruns the same call, recomposing the same config into the same run directory), then
wait for *every* member, read each member's state from its run directory's ``status.json`` and print a table of
members, also written to ``<sweep dir>/members.tsv``.

How the multirun ends: when every member finished (state completed, collapsed or diverged: those are results, not
errors) it exits 0. When any member failed (its job raised, was cancelled, ran out of requeues, failed to compose its
config, or its run ended in state "failed"), the failed members are returned to Hydra as failed jobs carrying one
:class:`SweepMembersFailed` error that names members.tsv, so ``python -m redi.run -m ...`` exits 1 after *all*
members ended and the table was written. (Hydra's basic sweeper raises that error by reading the returned values;
a sweeper that does not, like redi.sweeps.members.MembersSweeper, raises ``SweepMembersFailed(failure_message(...))``.)

Selected with ``hydra/launcher=slurm`` or ``hydra/launcher=local`` (conf/hydra/launcher/*.yaml), which name the
concrete classes in ``hydra_plugins.redi_launchers`` (Hydra instantiates launchers from that package only).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)

FINISHED_STATES = ("completed", "collapsed", "diverged")
FAILED = "failed"
INTERRUPTED = "interrupted"
# srun's line for a task that ended badly: "srun: error: node2: task 1: Killed", "... tasks 0-1: Exited with ..."
_SRUN_TASK_ERROR = re.compile(r"^srun: error: (\S+): (tasks? [\d,\-]+): (.+)$", re.MULTILINE)
TABLE_NAME = "members.tsv"
COLUMNS = ("member", "overrides", "job_id", "state", "step", "run_dir", "log", "error")


class SweepMembersFailed(RuntimeError):
    """Some members of a sweep failed; the others ran to their end (see the sweep's members.tsv)."""


@dataclass
class Member:
    """One row of the members table."""

    member: int
    overrides: str
    job_id: str
    state: str
    step: int | None
    run_dir: str
    log: str
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.state not in FINISHED_STATES


def check_layout(params: dict[str, Any]) -> None:
    """Refuse a job layout redi cannot run, before anything is submitted: one process (task) per GPU.

    ``params`` are the launcher's settings (hydra.launcher.*): ``nodes`` x ``tasks_per_node`` processes, each on
    one of the node's ``gpus_per_node`` GPUs (its local rank). Raises ValueError naming the keys and values.
    """
    for key in ("nodes", "tasks_per_node"):
        value = params.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"hydra.launcher.{key}={value!r}: must be a whole number >= 1")
    gpus = params.get("gpus_per_node")
    if gpus in (None, 0):
        return
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise ValueError(f"hydra.launcher.gpus_per_node={gpus!r}: must be a whole number >= 0 (or null)")
    if params.get("tasks_per_node", 1) != gpus:
        raise ValueError(
            f"hydra.launcher.gpus_per_node={gpus} with hydra.launcher.tasks_per_node="
            f"{params.get('tasks_per_node', 1)}: redi runs one process per GPU, so set "
            f"hydra.launcher.tasks_per_node={gpus} (global batch = micro_batch_size x grad_accum_steps x nodes x "
            "tasks_per_node)"
        )


def requeue_count() -> int:
    """How many times SLURM has requeued the current job (0 outside SLURM or on the first start)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def read_status(run_dir: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The run directory's status.json, or None when it is absent or unreadable."""
    if not run_dir:
        return None
    path = Path(run_dir) / "status.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def member_state(
    job_error: BaseException | None, job_return: JobReturn | None, status: dict[str, Any] | None
) -> str:
    """A member's state: its job's outcome first, then the state its run wrote to status.json.

    A job that raised (composition error, cancelled, out of requeues) or whose task raised is "failed"; a task that
    returned reports its status.json state; a task that returned without writing status.json (an app that does not
    write one) is "completed"; a run that returned while its status still says "running" is "failed".
    """
    if job_error is not None or job_return is None or job_return.status != JobStatus.COMPLETED:
        return FAILED
    if status is None:
        return "completed"
    state = str(status.get("state", FAILED))
    return state if state in (*FINISHED_STATES, FAILED) else FAILED


def _first_line(error: BaseException | str | None) -> str:
    if error is None:
        return ""
    text = str(error).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # submitit's FailedJobError embeds the remote traceback: its last line names the real error
    return (lines[-1] if lines else type(error).__name__)[:300] if not isinstance(error, str) else text[:300]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def format_table(members: Sequence[Member]) -> str:
    """The members table as aligned text, one line per member."""
    head = ("#", "state", "step", "job", "overrides", "log")
    rows = [head] + [
        (str(m.member), m.state, "" if m.step is None else str(m.step), m.job_id, m.overrides or "-", m.log)
        for m in members
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]]) for r in rows]
    return "\n".join(lines)


def write_table(members: Sequence[Member], path: Path) -> None:
    """Write the members table as TSV with a header (``COLUMNS``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for m in members:
            writer.writerow(["" if getattr(m, c) is None else getattr(m, c) for c in COLUMNS])


def read_table(path: Path) -> list[Member]:
    """Read back a members.tsv written by :func:`write_table`."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        Member(**{**r, "member": int(r["member"]), "step": int(r["step"]) if r["step"] else None})  # type: ignore[arg-type]
        for r in rows
    ]


def summarize(members: Sequence[Member]) -> str:
    """One line: how many members ended in each state."""
    counts: dict[str, int] = {}
    for m in members:
        counts[m.state] = counts.get(m.state, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def failure_message(members: Sequence[Member], table_path: Path) -> str | None:
    """The error a multirun ends with when some members failed (None when none did)."""
    failed = [m for m in members if m.failed]
    if not failed:
        return None
    return (
        f"{len(failed)} of {len(members)} sweep members failed "
        f"(#{', #'.join(str(m.member) for m in failed)}); the others ran to their end. See {table_path}"
    )


def srun_task_failures(batch_log: str | os.PathLike[str]) -> list[str]:
    """srun's account of the job's tasks that ended badly, from its batch log: ["rank 1 on node2: Killed"].

    A SLURM task id is the run's global rank (redi.infra.distributed). Each distinct line once, in order.
    """
    try:
        text = Path(batch_log).read_text(errors="replace")
    except OSError:
        return []
    found: list[str] = []
    for node, tasks, what in _SRUN_TASK_ERROR.findall(text):
        line = f"{tasks.replace('task', 'rank')} on {node}: {what.strip()}"
        if line not in found:
            found.append(line)
    return found


def record_failure(
    run_dir: str, status: dict[str, Any] | None, job_error: BaseException | str | None, batch_log: Path
) -> str:
    """The reason a failed member ended, also written to its status.json (state "failed").

    srun's account of tasks that ended badly (which rank on which node) comes first, then the run's own reason
    from status.json, else the job's error. A job that died without the run recording it (killed, cancelled, a
    node lost) leaves status.json "running" or "interrupted": it is set to "failed" here. A run that recorded a
    result (completed, collapsed, diverged) keeps it, whatever became of its job afterwards.
    """
    from redi.infra.status import Status

    own = str(status.get("reason") or "") if status and status.get("state") == FAILED else ""
    base = own or (_first_line(job_error) if job_error is not None else "status.json says failed")
    reason = "; ".join([*(f"SLURM: {t}" for t in srun_task_failures(batch_log)), base])
    recorded = status.get("state") if status else None
    if run_dir and Path(run_dir).is_dir() and recorded not in FINISHED_STATES and reason != own:
        Status(Path(run_dir)).update(state=FAILED, reason=reason)
    return reason


def add_unlaunched_failures(sweep_dir: Path, failures: Sequence[dict[str, Any]]) -> list[Member]:
    """Append members that were never launched (``{"overrides": [...], "error": str}``) to members.tsv.

    For a sweeper that leaves out members whose config does not compose: they get the next member numbers, state
    "failed" and no job. Returns the whole table (launched members first).
    """
    path = Path(sweep_dir) / TABLE_NAME
    members = read_table(path) if path.exists() else []
    start = max((m.member for m in members), default=-1) + 1
    for i, failure in enumerate(failures):
        members.append(
            Member(
                start + i, " ".join(failure["overrides"]), "-", FAILED, None, "", "", str(failure["error"])
            )
        )
    write_table(members, path)
    return members


class TolerantSubmititMixin(submitit_launcher.BaseSubmititLauncher):
    """Submit the sweep as the plugin does, then wait for all members and report them (see the module doc)."""

    def _executor(self) -> Any:
        import submitit

        init_keys = {"submitit_folder", "max_num_timeout"}
        init = {"folder": self.params["submitit_folder"]}
        if "max_num_timeout" in self.params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = self.params["max_num_timeout"]
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                (k if k in shared else f"{self._EXECUTOR}_{k}"): v
                for k, v in self.params.items()
                if k not in init_keys
            }
        )
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and len(job_overrides) > 0
        check_layout(dict(self.params))
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")

        args: list[tuple[Any, ...]] = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*args, strict=True))
        log.info(f"Submitted {len(jobs)} jobs: {', '.join(j.job_id for j in jobs)}")

        returns: list[JobReturn] = []
        members: list[Member] = []
        for (overrides, *_), idx, job in zip(
            args, range(initial_job_idx, initial_job_idx + len(jobs)), jobs, strict=True
        ):
            ret, member = self._collect(job, idx, overrides)
            returns.append(ret)
            members.append(member)

        self._members = [*getattr(self, "_members", []), *members]
        table_path = sweep_dir / TABLE_NAME
        write_table(self._members, table_path)
        log.info(
            f"Sweep members ({summarize(self._members)}), written to {table_path}:\n{format_table(self._members)}"
        )

        message = failure_message(members, table_path)
        if message is not None:
            error = SweepMembersFailed(message)
            for ret, m in zip(returns, members, strict=True):
                if m.failed:
                    ret.status = JobStatus.FAILED
                    ret.return_value = error
        return returns

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        """Run one member inside its job (submitit calls this); an interrupted run under SLURM leaves no result.

        A run stopped by a termination signal checkpointed and returned state "interrupted". Under SLURM that
        signal means the job is being requeued (``scontrol requeue``, preemption) or cancelled: a result now
        would make the launcher collect the member as failed while SLURM runs it again. So the task exits without
        one, and submitit waits for the requeued run (or reports the cancellation).
        """
        ret = super().__call__(*args, **kwargs)
        value = ret._return_value if ret.status == JobStatus.COMPLETED else None
        if self._EXECUTOR == "slurm" and isinstance(value, dict) and value.get("state") == INTERRUPTED:
            log.warning(
                "run interrupted (%s): exiting without a result for SLURM to requeue", value.get("reason")
            )
            raise SystemExit(1)
        return ret

    def _collect(self, job: Any, idx: int, overrides: list[str]) -> tuple[JobReturn, Member]:
        """Wait for one member's job and turn its outcome into (JobReturn for Hydra, table row)."""
        ret: JobReturn | None = None
        error: BaseException | None = None
        try:
            ret = job.results()[0]
        except Exception as exc:  # the job failed, was cancelled or ran out of requeues: record it, go on
            error = exc
        run_dir = ""
        if ret is not None and ret.hydra_cfg is not None:
            run_dir = str(ret.hydra_cfg.hydra.runtime.output_dir)
        else:
            run_dir = self._run_dir_of(overrides, idx)
        status = read_status(run_dir)
        state = member_state(error, ret, status)
        if error is None and ret is not None and ret.status != JobStatus.COMPLETED:
            error = ret._return_value
        reason = record_failure(run_dir, status, error, Path(job.paths.stderr)) if state == FAILED else ""
        run_log = Path(run_dir) / "run.log" if run_dir else None
        log_path = str(run_log) if run_log is not None and run_log.exists() else str(job.paths.stderr)
        member = Member(
            member=idx,
            overrides=" ".join(filter_overrides(overrides)),
            job_id=str(job.job_id),
            state=state,
            step=_int_or_none(None if status is None else status.get("step")),
            run_dir=run_dir,
            log=log_path,
            error=reason[:300],
        )
        if ret is None:
            ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=error)
        return ret, member

    def _run_dir_of(self, overrides: list[str], idx: int) -> str:
        """The member's run directory composed here, for a job that did not return one ("" when it cannot compose)."""
        assert self.hydra_context is not None and self.config is not None
        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg.hydra.job):
                cfg.hydra.job.num = idx
            return str(Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir))
        except Exception:  # a bad override: the job failed for the same reason
            return ""
