"""Progress off a terminal: log lines every N units or T seconds, with counts, loss, tokens/s, elapsed and ETA."""

from __future__ import annotations

import logging

import pytest

from redi.infra import progress as P


@pytest.fixture
def lines(caplog, monkeypatch):
    monkeypatch.setenv("REDI_PROGRESS", "lines")
    caplog.set_level(logging.INFO, logger="redi.progress")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "redi.progress"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(P.time, "perf_counter", c)
    return c


def test_durations_read_as_a_person_writes_them():
    assert [P.format_duration(s) for s in (3, 41.4, 154, 3900)] == ["3s", "41s", "2m34s", "1h05m"]


def test_a_line_every_n_steps_with_loss_tokens_elapsed_and_eta(lines, clock):
    bar = P.Progress(40, "train", every_s=1e9)  # every 40 // 20 = 2 steps
    for step in range(1, 7):
        clock.now += 2.0
        bar.update(1, tokens=500, loss=1.0 / step)
    out = lines()
    # the first step, then steps 2, 4, 6
    assert [line.split(":")[1].split()[0] for line in out] == ["1/40", "2/40", "4/40", "6/40"]
    assert out[-1] == "train: 6/40 (15%) loss 0.1667 | 250 tok/s | elapsed 12s | ETA 1m08s"


def test_a_line_every_t_seconds_when_steps_are_slow(lines, clock):
    bar = P.Progress(1000, "train", every_s=60)
    for _ in range(5):
        clock.now += 45.0  # slower than one line per 50 steps
        bar.update(1)
    # first step at 45 s, then at 90 s (45 s after: not due), 135 s (90 s after the first: due), ...
    assert [line.split()[1] for line in lines()] == ["1/1000", "3/1000", "5/1000"]


def test_a_resumed_run_counts_from_its_step_and_the_last_step_is_always_logged(lines, clock):
    bar = P.Progress(10, "train", initial=7, every_n=100, every_s=1e9)
    for _ in range(3):
        clock.now += 1.0
        bar.update(1)
    out = lines()
    assert out[0].startswith("train: 8/10 (80%)") and "ETA 2s" in out[0]
    assert out[-1].startswith("train: 10/10 (100%)") and "ETA" not in out[-1]


def test_phases_log_start_and_end_and_prefix_the_lines_inside(lines, clock):
    with P.phase("stage 1"):
        bar = P.Progress(2, "train", every_s=1e9)
        clock.now += 65.0
        bar.update(2)
    out = lines()
    assert out[0] == "stage 1: started"
    assert out[1].startswith("stage 1 | train: 2/2 (100%)")
    assert out[2] == "stage 1: done after 1m05s"


def test_a_failing_phase_says_it_stopped(lines, clock):
    with pytest.raises(RuntimeError), P.phase("data build"):
        raise RuntimeError("bad row")
    assert lines()[-1] == "data build: stopped after 0s"


def test_disabled_progress_is_silent(lines):
    bar = P.Progress(3, "train", enabled=False)
    bar.update(3)
    assert lines() == []
