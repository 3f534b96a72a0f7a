"""SLURM's pre-timeout/preemption signal (SIGUSR2, submitit's) deferred to the next step boundary."""

from __future__ import annotations

import signal
import threading
from typing import Any

from redi.infra.session import Interrupted

__all__ = ["Interrupted", "PreemptionGuard"]


class PreemptionGuard:
    """Record SIGUSR2 instead of acting on it; the loop checkpoints at the next step, then hands over.

    ``hand_over`` calls the handler that was installed before (submitit's, which requeues the job and exits), so a
    requeued run resumes at the exact step it was stopped.
    """

    def __init__(self) -> None:
        self.requested = False
        self._signal: tuple[int, Any] | None = None
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGUSR2, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        self._signal = (signum, frame)

    def hand_over(self) -> None:
        self.restore()
        if callable(self._previous) and self._signal is not None:
            self._previous(*self._signal)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGUSR2, self._previous)
            self._previous = None if not callable(self._previous) else self._previous
