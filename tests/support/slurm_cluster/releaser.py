"""Releasing requeued jobs at once instead of after SLURM's hold (a test cluster has no use for the wait)."""

from __future__ import annotations

import os
import subprocess
import time

from tests.support.slurm_cluster.state import Cluster


class RequeueReleaser:
    """Start requeued jobs at once instead of after Slurm's hold (about 2 minutes of Reason=BeginTime).

    Slurm makes a requeued batch job eligible only after a delay; on a test cluster that is dead time. This thread
    sets StartTime=now on pending jobs held for BeginTime that have restarted at least once, ``settle_s`` after it
    first saw them held (slurmd refuses to relaunch a job in the same second its previous run was killed: "already
    killed, do not launch batch job"). The ids are kept in ``released``. It only shortens the wait: the requeue
    itself is Slurm's and submitit's.
    """

    def __init__(self, cluster: Cluster, interval_s: float = 0.5, settle_s: float = 5.0) -> None:
        import threading

        self.cluster = cluster
        self.interval_s = interval_s
        self.settle_s = settle_s
        self.released: list[str] = []
        self._held_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="slurm-requeue-releaser", daemon=True)

    def __enter__(self) -> RequeueReleaser:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        env = {**os.environ, **self.cluster.env}
        while not self._stop.wait(self.interval_s):
            try:
                out = subprocess.run(
                    ["squeue", "-h", "-t", "PD", "-o", "%i|%r"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=20,
                )
                for line in out.stdout.split():
                    job_id, _, reason = line.partition("|")
                    if reason != "BeginTime":
                        continue
                    show = subprocess.run(
                        ["scontrol", "-o", "show", "job", job_id],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=20,
                    )
                    if "Restarts=0 " in show.stdout:
                        continue  # submitted with --begin on purpose, not a requeue
                    key = f"{job_id}/{show.stdout.split('Restarts=')[1].split()[0]}"
                    if time.monotonic() - self._held_since.setdefault(key, time.monotonic()) < self.settle_s:
                        continue
                    done = subprocess.run(
                        ["scontrol", "update", f"JobId={job_id}", "StartTime=now"],
                        env=env,
                        capture_output=True,
                        timeout=20,
                    )
                    if done.returncode == 0:
                        self.released.append(job_id)
            except (OSError, subprocess.SubprocessError):
                continue
