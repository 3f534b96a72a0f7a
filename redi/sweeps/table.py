"""The members table of a sweep (``<sweep dir>/members.tsv``): one row per member with its job, state, step, run
directory, log and error; how a member's state is read from its job and its status.json, and how a failed
member's reason is recorded. Used by the launchers (redi.sweeps.launchers) and the sweeper (redi.sweeps.members).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from submitit.core.utils import UncompletedJobError

from redi.infra.status import FINAL_STATES, RunState, Status

FINISHED_STATES = FINAL_STATES  # results, not errors: completed, collapsed, diverged
FAILED = RunState.FAILED.value
INTERRUPTED = RunState.INTERRUPTED.value  # checkpointed and stopped from outside: resumes when run again
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

    A run that recorded "interrupted" (a termination signal: checkpointed, resumable) is "interrupted", whatever
    became of its job (SLURM ends a cancelled or out-of-requeues job without a result). Otherwise a job that
    raised (composition error, cancelled, out of requeues) or whose task raised is "failed"; a task that returned
    reports its status.json state; a task that returned without writing status.json (an app that does not write
    one) is "completed"; a run that returned while its status still says "running" is "failed".
    """
    state = str(status.get("state", FAILED)) if status is not None else None
    if state == INTERRUPTED:
        return INTERRUPTED
    if job_error is not None or job_return is None or job_return.status != JobStatus.COMPLETED:
        return FAILED
    if state is None:
        return RunState.COMPLETED.value
    return state if state in (*FINISHED_STATES, FAILED) else FAILED


def shown_overrides(overrides: Sequence[str]) -> str:
    """A member's overrides as the table shows them: without ``sweep.name`` (the sweep directory names it)."""
    return " ".join(o for o in overrides if not o.lstrip("+~").startswith("sweep.name="))


_NO_OUTPUT = re.compile(
    r"^Job (\S+) \(task: (\S+)\).*?has not produced any output \(state: ([^)]*)\)", re.DOTALL
)


def error_line(error: BaseException | str | None) -> str:
    """The line that says why a job failed.

    submitit's FailedJobError embeds the remote traceback, whose last line names the real error; its
    UncompletedJobError (a job that ended without a result: killed, cancelled, out of requeues) says so in its first
    two lines and then quotes the job's log, whose last line says nothing about how the job ended.
    """
    if error is None:
        return ""
    text = str(error).strip()
    if isinstance(error, str):
        return text[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if isinstance(error, UncompletedJobError) and (match := _NO_OUTPUT.match(text)):
        job, task, state = match.groups()
        return f"Job {job} (task: {task}) has not produced any output (state: {state})"
    return (lines[-1] if lines else type(error).__name__)[:300]


def int_or_none(value: Any) -> int | None:
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
    """The error a multirun ends with when some members did not finish (None when all did)."""
    unfinished = [m for m in members if m.failed]
    if not unfinished:
        return None
    which = ", ".join(f"#{m.member} {m.state}" for m in unfinished)
    resume = (
        "; the interrupted ones resume when the same command runs again"
        if any(m.state == INTERRUPTED for m in unfinished)
        else ""
    )
    return (
        f"{len(unfinished)} of {len(members)} sweep members did not finish ({which}); the others ran to their end"
        f"{resume}. See {table_path}"
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
    own = str(status.get("reason") or "") if status and status.get("state") == FAILED else ""
    base = own or (error_line(job_error) if job_error is not None else "status.json says failed")
    reason = "; ".join([*(f"SLURM: {t}" for t in srun_task_failures(batch_log)), base])
    recorded = status.get("state") if status else None
    if run_dir and Path(run_dir).is_dir() and recorded not in FINISHED_STATES and reason != own:
        Status(Path(run_dir)).update(state=FAILED, reason=reason)
    return reason
