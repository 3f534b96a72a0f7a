"""The shortcut task: a teacher that sometimes skips a step's column work and then often gets the step wrong.

Why (docs/synthetic_teacher.md, "The shortcut task"): negatives carry signal when they mark a behaviour the student
follows and the positives cannot penalise. Here each step that has column work is written as a shortcut
(``58 + 67 = 125``, no ``[...]``) with probability ``shortcut_rate``, and a shortcut step is wrong with probability
``shortcut_error_rate`` (a forgotten carry, a slipped digit or a misread digit of the result, carried through the
later lines). Correct traces keep their correct shortcuts, so SFT on D_SFT learns to take the shortcut at the rate
it has in correct traces and has nothing to push it lower; the branch token after ``58 + 67`` (`` =`` against
`` [``) is one the student itself samples, and the negatives mark it. Other mistakes (the column task's error types)
come on top at ``error_rate``, in traces written without shortcuts.
"""

from __future__ import annotations

import random
from dataclasses import replace

from redi.config import SyntheticTeacherConfig
from redi.data.synthetic.columns import (
    Step,
    Token,
    carry_columns,
    column_slips,
    column_work,
    final_value,
    magnitude_form,
    solve,
    worked_value,
)
from redi.data.synthetic.errors import Trace, _render, make_traces, misread_number
from redi.data.synthetic.problems import Problem


def has_column_work(a: int, op: str, b: int) -> bool:
    """Whether ``a op b`` is written with column work (so it can be taken as a shortcut)."""
    return column_work(*magnitude_form(a, op, b)[:3]) is not None


def wrong_shortcut_values(a: int, op: str, b: int) -> list[int]:
    """Plausible wrong results of ``a op b`` done in the head: a forgotten carry or a slipped digit fact."""
    x, mop, y = magnitude_form(a, op, b)[:3]
    true = worked_value(a, op, b)
    values = [worked_value(a, op, b, drop=i) for i in carry_columns(x, mop, y)]
    values += [worked_value(a, op, b, slip=s) for s in column_slips(x, mop, y)]
    return sorted({v for v in values if v != true})


def _mark(steps: list[Step], marks: set[int]) -> list[Step]:
    return [replace(s, shortcut=True) if i in marks else s for i, s in enumerate(steps)]


def _failed(tokens: list[Token], steps: list[Step], t: int, rng: random.Random) -> list[Step] | None:
    """The steps with step ``t``'s shortcut result wrong (carried on), or None if no wrong value changes the answer."""
    s = steps[t]
    truth = final_value(tokens, steps)
    candidates = wrong_shortcut_values(s.a, s.op, s.b) + ([misread_number(s.c, rng)] if s.c != 0 else [])
    rng.shuffle(candidates)
    for wrong in candidates:
        if wrong == s.c:
            continue
        out = solve(tokens, corrupt=(t, lambda a, op, b, c, w=wrong: w))
        if final_value(tokens, out) != truth:
            return out
    return None


def make_shortcut_traces(
    problem: Problem, n: int, p_error: float, cfg: SyntheticTeacherConfig, rng: random.Random
) -> list[Trace]:
    """``n`` traces of one problem for the shortcut task.

    Per trace: each step with column work is a shortcut with probability ``cfg.shortcut_rate``; the first shortcut
    that fails (probability ``cfg.shortcut_error_rate`` each) makes a ``shortcut_slip`` trace. Without a failed
    shortcut, the trace has one of the column task's mistakes with probability ``p_error`` (written without
    shortcuts), else it is correct, its shortcuts included.
    """
    tokens = list(problem.tokens)
    steps = solve(tokens)
    eligible = [t for t, s in enumerate(steps) if has_column_work(s.a, s.op, s.b)]
    traces: list[Trace] = []
    for _ in range(n):
        marks = {t for t in eligible if rng.random() < cfg.shortcut_rate}
        failed = next((t for t in sorted(marks) if rng.random() < cfg.shortcut_error_rate), None)
        wrong = _failed(tokens, steps, failed, rng) if failed is not None else None
        if wrong is not None:
            text, value = _render(problem, _mark(wrong, marks), rng)
            traces.append(Trace(text, value, "shortcut_slip", True))
        elif rng.random() < p_error:
            traces.extend(make_traces(problem, 1, 1.0, cfg, rng))
        else:
            text, value = _render(problem, _mark(steps, marks), rng)
            traces.append(Trace(text, value, None, True))
    return traces
