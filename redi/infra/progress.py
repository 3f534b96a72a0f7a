"""Progress a person can follow anywhere: a tqdm bar on a terminal, a log line every N steps or T seconds off it.

Off a terminal (nohup, CI, a SLURM .out file) a bar prints nothing useful, so :class:`Progress` writes lines like

    stage 1 | train: 120/572 (21%) loss 0.4312 | 2,310 tok/s | elapsed 41s | ETA 2m34s

through the ``redi`` logger (run.log and the console). :func:`phase` marks a long phase (stage 1, the data build,
the reference pass, an evaluation) with a start and an end line and prefixes the progress lines inside it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

log = logging.getLogger("redi.progress")
T = TypeVar("T")

LINES_PER_RUN = 20  # off a terminal: a line every total/20 steps ...
EVERY_SECONDS = 60.0  # ... or every minute, whichever comes first (REDI_PROGRESS_SECONDS overrides)
_phases: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("redi_phases", default=())


def on_terminal() -> bool:
    """True when progress should be a bar: stderr is a terminal (REDI_PROGRESS=lines forces log lines)."""
    forced = os.environ.get("REDI_PROGRESS", "").lower()
    if forced in ("lines", "bar"):
        return forced == "bar"
    return sys.stderr.isatty()


def every_seconds() -> float:
    return float(os.environ.get("REDI_PROGRESS_SECONDS", EVERY_SECONDS))


def format_duration(seconds: float) -> str:
    """3s, 41s, 2m34s, 1h05m."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def current_phase() -> str:
    """The phases running now, outermost first ("stage 1 | data build"), or ""."""
    return " | ".join(_phases.get())


def _prefix() -> str:
    phases = _phases.get()
    return " | ".join(phases) + " | " if phases else ""


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Log the start and the end (with its duration) of a long phase; progress lines inside carry its name."""
    t0 = time.perf_counter()
    log.info("%s%s: started", _prefix(), name)
    token = _phases.set((*_phases.get(), name))
    ok = False
    try:
        yield
        ok = True
    finally:
        _phases.reset(token)
        log.info(
            "%s%s: %s after %s",
            _prefix(),
            name,
            "done" if ok else "stopped",
            format_duration(time.perf_counter() - t0),
        )


class Progress:
    """A bar on a terminal, log lines off one: ``update(n, loss=..., tokens=...)`` after each unit of work.

    total: units to do; initial: units already done (a resumed run). Off a terminal a line is written at the
    first update, then at every multiple of ``max(1, total // 20)`` units or ``every_s`` seconds, and at the last unit; it holds
    units done/total, the latest loss, tokens/s over the units since the last line, elapsed time and the ETA
    (elapsed per unit done in this process x units left).
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        initial: int = 0,
        unit: str = "",
        enabled: bool = True,
        bar: bool | None = None,
        every_n: int | None = None,
        every_s: float | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.enabled = int(total), desc, unit, enabled
        self.done = self.start = int(initial)
        self.every_n = every_n or max(1, self.total // LINES_PER_RUN)
        self.every_s = every_seconds() if every_s is None else every_s
        self.t0 = self._last_t = time.perf_counter()
        self._last_done = self.done
        self._tokens = 0.0
        self.fields: dict[str, Any] = {}
        self._bar = None
        if enabled and (on_terminal() if bar is None else bar):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, desc=_prefix() + desc, dynamic_ncols=True)

    def update(self, n: int = 1, *, tokens: float = 0.0, **fields: Any) -> None:
        """``n`` more units done; ``tokens`` processed in them (for tokens/s); ``fields`` shown (e.g. loss)."""
        if not self.enabled:
            return
        self.done += n
        self._tokens += tokens
        self.fields.update(fields)
        if self._bar is not None:
            self._bar.update(n)
            if fields:
                self._bar.set_postfix({k: _short(v) for k, v in fields.items()}, refresh=False)
            return
        now = time.perf_counter()
        first = self.done - n == self.start
        crossed = self.done // self.every_n > self._last_done // self.every_n  # at multiples of every_n
        due = crossed or now - self._last_t >= self.every_s
        if first or due or self.done >= self.total:
            log.info("%s", self.line(now))
            self._last_done, self._last_t, self._tokens = self.done, now, 0.0

    def line(self, now: float | None = None) -> str:
        """The progress line for the state now."""
        now = time.perf_counter() if now is None else now
        elapsed = now - self.t0
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        parts = [
            f"{_prefix()}{self.desc}: {self.done}/{self.total}{(' ' + self.unit) if self.unit else ''}{pct}"
        ]
        parts[0] += "".join(f" {k} {_short(v)}" for k, v in self.fields.items())
        window = now - self._last_t
        if self._tokens and window > 0:
            parts.append(f"{self._tokens / window:,.0f} tok/s")
        parts.append(f"elapsed {format_duration(elapsed)}")
        done_here = self.done - self.start
        if done_here > 0 and self.done < self.total:
            parts.append(f"ETA {format_duration(elapsed / done_here * (self.total - self.done))}")
        return " | ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)


def track(items: Iterable[T], total: int, desc: str, *, unit: str = "", enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` with a :class:`Progress` of ``total`` units (one per item)."""
    progress = Progress(total, desc, unit=unit, enabled=enabled)
    try:
        for item in items:
            yield item
            progress.update(1)
    finally:
        progress.close()
