"""Termination signals in-process: outside the loop they stop the run at once naming the phase; inside it the
loop's guard defers them and hands over to the launcher's handler (submitit's), never to the at-once one."""

from __future__ import annotations

import os
import signal
import time

import pytest

from redi.infra.progress import phase
from redi.loop.preemption import PreemptionGuard, SignalStop, StopAtOnce


def deliver(sig: signal.Signals) -> None:
    """Send ``sig`` to this process and give the interpreter the moment to run its handler."""
    os.kill(os.getpid(), sig)
    for _ in range(10):
        time.sleep(0.01)


@pytest.fixture
def launcher():
    """A stand-in for submitit's SIGUSR2 handler: records what it is handed."""
    calls: list[int] = []
    before = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    yield calls
    signal.signal(signal.SIGUSR2, before)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_outside_the_loop_stops_at_once_naming_the_phase(sig):
    before = signal.getsignal(sig)
    stop = pytest.raises(SignalStop, match=f"{sig.name} during stage 1 \\| data build")
    with stop, StopAtOnce(), phase("stage 1"), phase("data build"):
        deliver(sig)
    assert signal.getsignal(sig) is before


def test_after_an_at_once_stop_the_launchers_handler_gets_the_signal(launcher):
    with pytest.raises(SignalStop, match="SIGUSR2 during the run's set-up"), StopAtOnce():
        deliver(signal.SIGUSR2)
    assert launcher == [signal.SIGUSR2]


def test_inside_the_loop_the_signal_waits_and_goes_to_the_launcher(launcher):
    with StopAtOnce():
        guard = PreemptionGuard()
        deliver(signal.SIGUSR2)  # deferred: no SignalStop here
        assert guard.requested and launcher == []
        guard.hand_over()
        assert launcher == [signal.SIGUSR2]
        with pytest.raises(SignalStop, match="SIGTERM during the run's set-up or wind-down"):  # at once again
            deliver(signal.SIGTERM)


def test_sigint_inside_the_loop_stops_at_once_and_says_so():
    with StopAtOnce():
        guard = PreemptionGuard()
        with pytest.raises(SignalStop, match="SIGINT during the training loop"):
            deliver(signal.SIGINT)
        guard.restore()
