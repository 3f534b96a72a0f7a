"""status.json: the run's state for resume, sweeps and analysis, always replaced atomically.

One enum of run states (:class:`RunState`) and one timestamp helper (:func:`now`) for the whole project.
"""

from __future__ import annotations

import enum
import json
import os
import time
from pathlib import Path
from typing import Any


class RunState(str, enum.Enum):
    """Where a run is; the value is what status.json, W&B and members.tsv say."""

    PENDING = "pending"
    RUNNING = "running"
    INTERRUPTED = "interrupted"  # stopped from outside (signal, requeue); resumes from its checkpoint
    COMPLETED = "completed"
    COLLAPSED = "collapsed"
    DIVERGED = "diverged"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """A final state: the run is not run again."""
        return self in (RunState.COMPLETED, RunState.COLLAPSED, RunState.DIVERGED)


STATES = tuple(s.value for s in RunState)
FINAL_STATES = tuple(s.value for s in RunState if s.final)


class StatusFileError(RuntimeError):
    """status.json exists but is not a JSON object; the message names the file and how to recover."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see either the old or the new file, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old file and no stray temporary
        raise


def now() -> str:
    """The local time with its UTC offset, ISO 8601 to the second: every timestamp the project writes."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_status(path: Path) -> dict[str, Any]:
    """The parsed status.json at ``path`` ({"state": "pending"} when absent); a damaged file is named."""
    path = Path(path)
    if not path.exists():
        return {"state": RunState.PENDING.value}
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StatusFileError(
            f"{path} is not valid JSON ({e}); it was changed outside redi. Restore it, or delete it to let "
            "the run resume from its checkpoint"
        ) from e
    if not isinstance(data, dict) or data.get("state", RunState.PENDING.value) not in STATES:
        raise StatusFileError(
            f"{path} holds no run state of {', '.join(STATES)} (got {str(data)[:80]}); restore it, or delete it "
            "to let the run resume from its checkpoint"
        )
    return data


class Status:
    """Read-modify-write access to <run dir>/status.json."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "status.json"
        self.data: dict[str, Any] = read_status(self.path)

    @property
    def state(self) -> str:
        return self.data.get("state", RunState.PENDING.value)

    @property
    def finished(self) -> bool:
        """True when the run ended in a final state and must not run again."""
        return self.state in FINAL_STATES

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the file as it is on disk now (another Status of this run may have written)."""
        if "state" in fields:
            if fields["state"] not in STATES:
                raise ValueError(f"unknown run state {fields['state']!r}")
            fields["state"] = str(RunState(fields["state"]))
        try:
            current = read_status(self.path) if self.path.exists() else {}
        except StatusFileError:
            current = {}
        self.data = {**self.data, **current, **fields, "updated_at": now()}
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n")

    def warn(self, message: str) -> None:
        """Record a warning about this run (a tracker that went offline, a skipped checkpoint) in status.json."""
        try:
            on_disk = read_status(self.path)
        except StatusFileError:
            on_disk = {}
        warnings = list(on_disk.get("warnings", self.data.get("warnings", [])))
        self.update(warnings=[*warnings, message])
