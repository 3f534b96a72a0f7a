"""Termination signals deferred to the next step boundary: SLURM's pre-timeout/preemption signal (SIGUSR2,
submitit's) and SIGTERM (what SLURM, Kubernetes and most schedulers send first); the run checkpoints there and
ends "interrupted"."""

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

    SIGNALS = (signal.SIGUSR2, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._signal: tuple[int, Any] | None = None
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        self._signal = (signum, frame)

    def hand_over(self) -> None:
        """Restore the handlers and call the one that was installed for the received signal (if a function)."""
        previous = dict(self._previous)
        self.restore()
        if self._signal is not None and callable(previous.get(self._signal[0])):
            previous[self._signal[0]](*self._signal)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
