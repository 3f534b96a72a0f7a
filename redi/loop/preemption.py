"""Termination signals: SLURM's pre-timeout/preemption signal (SIGUSR2, submitit's), SIGTERM (what SLURM,
Kubernetes and most schedulers send first) and SIGINT (Ctrl-C).

Inside the training loop SIGUSR2 and SIGTERM are deferred to the next step boundary (PreemptionGuard): the run
checkpoints there and ends "interrupted". Everywhere else in a run (waiting for the lock, the data build, stage 1's
set-up, the step-0 evaluation, the final model write) there is no step boundary to wait for and nothing new to
checkpoint, so StopAtOnce raises SignalStop at once: the session records "interrupted" with the signal and the
phase, and a rerun resumes from the newest checkpoint (or starts over), as after any stop.
"""

from __future__ import annotations

import os
import signal
import threading
from types import TracebackType
from typing import Any

from redi.infra.progress import current_phase
from redi.infra.session import Interrupted, SignalStop

__all__ = ["Interrupted", "PreemptionGuard", "SignalStop", "StopAtOnce"]


class StopAtOnce:
    """``with StopAtOnce():`` SIGTERM, SIGUSR2 and SIGINT raise SignalStop (naming the signal and the phase).

    On the way out after such a signal, the handler installed before (submitit's requeue for SIGUSR2) is called,
    as PreemptionGuard.hand_over does inside the loop. A forked child inheriting the handler gets the default action.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT)

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.received: tuple[int, Any] | None = None
        self.in_loop = False  # a PreemptionGuard defers SIGTERM/SIGUSR2 now (SIGINT still comes here)
        self._pid = os.getpid()

    def __enter__(self) -> StopAtOnce:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if os.getpid() != self._pid:  # a forked child (a grading worker): die as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = (signum, frame)
        loop = (
            "the training loop"
            if self.in_loop
            else "the run's set-up or wind-down, outside the training loop"
        )
        where = current_phase() or loop
        raise SignalStop(f"{signal.Signals(signum).name} during {where}")

    def launcher_handler(self, signum: int) -> Any:
        """The handler that was installed before this one (a function, or SIG_DFL/SIG_IGN/None)."""
        handler = self.previous.get(signum)
        return None if handler is signal.default_int_handler else handler

    def __exit__(self, kind: type | None, error: BaseException | None, tb: TracebackType | None) -> None:
        handlers = {s: self.launcher_handler(s) for s in self.previous}
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}
        if isinstance(error, SignalStop) and self.received and callable(handlers.get(self.received[0])):
            handlers[self.received[0]](*self.received)  # submitit requeues the job and exits


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
        self._outer = _owner(self._previous.get(signal.SIGTERM))
        if self._outer is not None:
            self._outer.in_loop = True

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        self._signal = (signum, frame)

    def hand_over(self) -> None:
        """Restore the handlers and call the one that was installed for the received signal (if a function)."""
        previous = dict(self._previous)
        self.restore()
        if self._signal is None:
            return
        handler = previous.get(self._signal[0])
        if (owner := _owner(handler)) is not None:  # the launcher's handler, not the one that raises at once
            handler = owner.launcher_handler(self._signal[0])
        if callable(handler):
            handler(*self._signal)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
        if self._outer is not None:
            self._outer.in_loop = False


def _owner(handler: Any) -> StopAtOnce | None:
    """The StopAtOnce whose handler ``handler`` is, or None."""
    owner = getattr(handler, "__self__", None)
    return owner if isinstance(owner, StopAtOnce) else None
