"""The Math-Verify side of grading: parse and verify with their signal timeouts off, in a worker process.

:class:`Worker` is one such process and the parent's end of its pipe; :class:`redi.grading.grader.Grader` owns a pool
of them and kills one that is still busy past the wall-clock limit.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection

STARTUP_TIMEOUT_S = 120.0  # a worker imports the parent's __main__ module (spawn/forkserver) and Math-Verify


@dataclass(frozen=True)
class Settings:
    extraction: str
    gold_format: str
    float_rounding: int
    numeric_precision: int
    strict: bool
    allow_set_relation_comp: bool


@lru_cache(maxsize=16)
def _targets(mode: str) -> tuple:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    latex = LatexExtractionConfig(boxed_match_priority=0)
    return {
        "boxed": (latex, ExprExtractionConfig()),
        "latex_expr": (latex, ExprExtractionConfig()),
        "latex": (latex,),
        "expr": (ExprExtractionConfig(),),
    }[mode]


def _has_math(parsed: list) -> bool:
    from sympy import Basic, MatrixBase

    return any(isinstance(x, Basic | MatrixBase) for x in parsed)


@lru_cache(maxsize=4096)
def _parse(text: str, mode: str, as_answer: bool) -> list:
    """Math-Verify's parse with its signal timeout off.

    A bare answer is parsed as ``\\boxed{answer}``, and as inline ``$answer$`` when that gives no expression
    (Math-Verify 0.9 reads ``\\boxed{25\\%}`` as a plain string but ``$25\\%$`` as 25).
    """
    from math_verify import parse

    if not as_answer:
        return parse(text, _targets(mode), parsing_timeout=None)
    parsed = parse(f"\\boxed{{{text}}}", _targets(mode), parsing_timeout=None)
    if not _has_math(parsed):
        inline = parse("$" + " ".join(text.split()) + "$", _targets(mode), parsing_timeout=None)
        if _has_math(inline):
            return inline
    return parsed


def _verify_one(pred: str, golds: tuple[str, ...], s: Settings) -> tuple[bool, str | None]:
    """Correct when the prediction is equivalent to any gold; also returns the string Math-Verify extracted."""
    from math_verify import verify

    target = _parse(pred, s.extraction, s.extraction == "boxed")
    extracted = pred if s.extraction == "boxed" else (str(target[-1]) if target else None)
    for gold in golds:
        parsed_gold = _parse(gold, s.extraction, s.gold_format == "answer")
        if (
            target
            and parsed_gold
            and verify(
                parsed_gold,
                target,
                float_rounding=s.float_rounding,
                numeric_precision=s.numeric_precision,
                strict=s.strict,
                allow_set_relation_comp=s.allow_set_relation_comp,
                timeout_seconds=None,
            )
        ):
            return True, extracted
    return False, extracted


def worker_main(conn: Connection) -> None:
    """Worker loop: receive (index, prediction, golds, settings), send back (index, correct, extracted)."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    _targets("boxed")  # import Math-Verify (and sympy) before saying ready
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, pred, golds, settings = task
        try:
            correct, extracted = _verify_one(pred, golds, settings)
        except BaseException:  # noqa: BLE001 - any failure of the checker is an incorrect sample, not a crash
            correct, extracted = False, None
        conn.send((index, correct, extracted))


class Worker:
    """One grading process and the parent's end of its pipe."""

    def __init__(self, ctx: mp.context.BaseContext) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child,), daemon=True, name="redi-grader")
        self.process.start()
        child.close()
        self.task: int | None = None
        self.deadline = 0.0

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Block until the worker has started (imports done), so start-up never counts against a sample's limit."""
        if not self.conn.poll(timeout_s):
            self.kill()
            raise RuntimeError(f"a grading worker did not start within {timeout_s:.0f} s")
        message = self.conn.recv()
        if message != "ready":
            raise RuntimeError(f"a grading worker sent {message!r} instead of 'ready'")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.process.join(timeout=1)
        self.kill()
