"""status.json: the run's state for resume, sweeps and analysis, always replaced atomically."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATES = ("pending", "running", "interrupted", "completed", "collapsed", "diverged", "failed")
FINAL_STATES = ("completed", "collapsed", "diverged")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see either the old or the new file, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Status:
    """Read-modify-write access to <run dir>/status.json."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "status.json"
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text()) if self.path.exists() else {"state": "pending"}
        )

    @property
    def state(self) -> str:
        return self.data.get("state", "pending")

    @property
    def finished(self) -> bool:
        """True when the run ended in a final state and must not run again."""
        return self.state in FINAL_STATES

    def update(self, **fields: Any) -> None:
        if "state" in fields and fields["state"] not in STATES:
            raise ValueError(f"unknown run state {fields['state']!r}")
        self.data.update(fields)
        self.data["updated_at"] = now()
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n")
