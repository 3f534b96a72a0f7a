"""The run-directory lock: one process (one job) owns a run directory while it runs.

An exclusive ``flock`` on ``<run dir>/.lock``, held for the life of the run; the file names the holder (pid, host,
start time, command). A second launch of the same run says who holds it and stops (or waits, with
``trainer.wait_for_lock=true``). The kernel drops the lock when its process dies, however it dies (SIGKILL
included), so the lock of a dead process is taken over without any clean-up. A run that ends removes the file
while it still holds the lock; a waiter that then gets the lock of the removed file sees that the path no longer
names the file it locked and locks the path anew, so two processes never hold "the" lock at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from redi.infra.status import now

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another process holds this run directory; the message names it (pid, host, since, command)."""

    exit_code = 3


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (it has not written its name yet)"
    cmd = " ".join(holder.get("argv", []))[:160]
    return f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('since')} ({cmd})"


def _names(path: Path, f: Any) -> bool:
    """True when ``path`` is (still) the file open as ``f``."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(f.fileno())
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


class RunLock:
    """Hold the lock on ``run_dir`` (a context manager); ``wait`` blocks until the holder ends instead of failing."""

    def __init__(self, run_dir: Path, *, wait: bool = False) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.wait = wait
        self._file = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            f = open(self.path, "a+")  # noqa: SIM115 - held open for the life of the run
            self._lock(f)
            if _names(self.path, f):
                break
            f.close()  # its holder ended and removed it while this process waited: lock the path anew
        previous = _holder(self.path)
        if previous and previous.get("pid") != os.getpid():
            log.info("took over the lock of %s, which is no longer running", _describe(previous))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now(), "argv": sys.argv}
        f.seek(0)
        f.truncate()
        f.write(json.dumps(me) + "\n")
        f.flush()
        self._file = f
        return self

    def _lock(self, f: Any) -> None:
        """Take the lock on the open file ``f``: at once, or after the holder ends (``wait``), or raise."""
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_holder(self.path))
            if not self.wait:
                f.close()
                raise RunLockedError(
                    f"{self.path.parent} is in use by {holder}: two runs must not share a run directory. "
                    "Wait for it to end or stop it, or pass trainer.wait_for_lock=true to wait"
                ) from None
            log.warning("waiting for %s to release %s (trainer.wait_for_lock=true)", holder, self.path.parent)
            fcntl.flock(f, fcntl.LOCK_EX)

    def release(self) -> None:
        """Remove the file (still holding its lock, see the module doc), then release the lock."""
        if self._file is not None:
            if _names(self.path, self._file):
                self.path.unlink(missing_ok=True)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
