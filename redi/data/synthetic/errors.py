"""Traces and the teacher's error types: rendering a solution in one of three styles, and making a trace with one
mistake of a chosen type (dropped carry, column slip, copy slip, sign slip, wrong precedence, dropped term, stop
early, truncated) that later lines build on."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from redi.config import SyntheticTeacherConfig
from redi.data.synthetic.columns import (
    Num,
    Step,
    carry_columns,
    column_slips,
    final_value,
    format_step,
    format_tokens,
    magnitude_form,
    solve,
    worked_value,
)
from redi.data.synthetic.problems import Problem

ERROR_TYPES = (
    "dropped_carry",
    "column_slip",
    "copy_slip",
    "sign_slip",
    "wrong_precedence",
    "dropped_term",
    "stop_early",
    "truncated",
)


@dataclass(frozen=True)
class Trace:
    text: str
    final: int | None  # the boxed value, None when the trace gives no answer
    error: str | None
    complete: bool


_FINALS = (
    "The answer is \\boxed{{{}}}.",
    "So the result is \\boxed{{{}}}.",
    "Therefore, the value is \\boxed{{{}}}.",
)
_NO_ANSWER = (
    "I will stop here and check the steps later.",
    "The calculation is not finished yet.",
    "So far: {}.",
)
_ORDINALS = ("First", "Then", "Next", "Then", "Next", "Then")


def _render_steps(expr: str, steps: list[Step], style: str) -> list[str]:
    lines = [f"We need {expr}." if style != "terse" else f"So {expr}."]
    for i, s in enumerate(steps):
        line = format_step(s)
        if style == "restate" and len(s.remaining) > 1:
            line += f", so {format_tokens(s.remaining)}"
        elif style == "verbose":
            word = "Finally" if i == len(steps) - 1 and i > 0 else _ORDINALS[min(i, len(_ORDINALS) - 1)]
            line = f"{word}, {line}."
        lines.append(line)
    return lines


def _render(problem: Problem, steps: list[Step], rng: random.Random, boxed: bool = True) -> tuple[str, int]:
    style = rng.choices(("terse", "restate", "verbose"), weights=(0.4, 0.4, 0.2))[0]
    value = final_value(list(problem.tokens), steps)
    lines = ["<think>", *_render_steps(problem.expression, steps, style), "</think>"]
    if boxed:
        lines.append(rng.choice(_FINALS).format(value))
    else:
        lines.append(rng.choice(_NO_ANSWER).format(value))
    return "\n".join(lines), value


def misread_number(value: int, rng: random.Random) -> int:
    """``value`` with one digit read as another (72 -> 42, -15 -> -13); the leading digit never becomes 0."""
    digits = list(str(abs(value)))
    i = rng.randrange(len(digits))
    choices = [d for d in "0123456789" if d != digits[i] and not (i == 0 and d == "0")]
    digits[i] = rng.choice(choices)
    return int("".join(digits)) * (-1 if value < 0 else 1)


def _candidate_errors(
    problem: Problem, steps: list[Step], rng: random.Random
) -> dict[str, Callable[[], Trace]]:
    """For each error type that applies to this problem, a maker of one trace with that mistake."""
    toks = list(problem.tokens)
    truth = final_value(toks, steps)
    makers: dict[str, Callable[[], Trace]] = {}

    def arithmetic(name: str, wrong_steps: list[Step]) -> None:
        value = final_value(toks, wrong_steps)
        if value != truth:
            makers[name] = lambda: Trace(_render(problem, wrong_steps, rng)[0], value, name, True)

    carry_steps = [(t, carry_columns(*magnitude_form(s.a, s.op, s.b)[:3])) for t, s in enumerate(steps)]
    carry_steps = [(t, cols) for t, cols in carry_steps if cols]
    if carry_steps:  # prefer the step with the most carries: that is where a student slips too
        t, cols = rng.choices(carry_steps, weights=[len(cs) ** 2 for _, cs in carry_steps])[0]
        col = rng.choice(cols)
        carry_lost = worked_value(steps[t].a, steps[t].op, steps[t].b, drop=col)
        arithmetic("dropped_carry", solve(toks, corrupt=(t, lambda a, op, b, c: carry_lost, col)))
    slip_steps = [(t, column_slips(*magnitude_form(s.a, s.op, s.b)[:3])) for t, s in enumerate(steps)]
    slip_steps = [(t, slips) for t, slips in slip_steps if slips]
    if slip_steps:  # a longer column work has more facts to get wrong
        t, slips = rng.choices(slip_steps, weights=[len(sl) for _, sl in slip_steps])[0]
        slip = rng.choice(slips)
        slipped = worked_value(steps[t].a, steps[t].op, steps[t].b, slip=slip)
        arithmetic("column_slip", solve(toks, corrupt=(t, lambda a, op, b, c: slipped, slip)))
    # copying a number into a later line wrongly (72 -> 42), most often an intermediate result
    results = {s.c for s in steps}
    operands = [(t, side, v) for t, s in enumerate(steps) for side, v in ((0, s.a), (1, s.b)) if abs(v) >= 10]
    if operands:
        weights = [3.0 if t > 0 and v in results else 1.0 for t, _, v in operands]
        t, side, v = rng.choices(operands, weights=weights)[0]
        seen = {x.value for x in toks if isinstance(x, Num)} | {s.c for s in steps[:t]}
        wrong = misread_number(v, rng)
        if wrong not in seen:  # a number seen before would read as another route, not as a slip
            arithmetic("copy_slip", solve(toks, misread=(t, side, wrong)))
    signed = [t for t, s in enumerate(steps) if (s.a < 0 or s.b < 0 or s.c < 0) and s.c != 0]
    if signed:
        arithmetic("sign_slip", solve(toks, corrupt=(rng.choice(signed), lambda a, op, b, c: -c)))
    wrong_order = solve(toks, left_to_right=True)
    if final_value(toks, wrong_order) == truth and "(" in toks:
        no_parens = [t for t in toks if t not in ("(", ")")]
        wrong_order = solve(no_parens)
    arithmetic("wrong_precedence", wrong_order)
    if sum(isinstance(t, Num) for t in toks) >= 3:
        arithmetic("dropped_term", solve(toks, drop=(rng.randrange(len(steps)), rng.choice)))
    if len(steps) >= 2:
        stop = rng.randint(1, len(steps) - 1)
        makers["stop_early"] = lambda: Trace(
            _render(problem, steps[:stop], rng, boxed=False)[0], None, "stop_early", True
        )

    def truncated() -> Trace:
        text = _render(problem, steps, rng)[0]
        cut = text.index("</think>")
        return Trace(text[: rng.randint(len("<think>\n") + 3, cut)].rstrip("\n"), None, "truncated", False)

    makers["truncated"] = truncated
    return makers


def make_traces(
    problem: Problem, n: int, p_error: float, cfg: SyntheticTeacherConfig, rng: random.Random
) -> list[Trace]:
    """``n`` traces of one problem; each has a mistake with probability ``p_error`` (type by cfg.error_types)."""
    steps = solve(list(problem.tokens))
    traces = []
    for _ in range(n):
        if rng.random() < p_error:
            makers = _candidate_errors(problem, steps, rng)
            names = [k for k in ERROR_TYPES if k in makers and cfg.error_types.get(k, 0.0) > 0]
            if names:
                name = rng.choices(names, weights=[cfg.error_types[k] for k in names])[0]
                traces.append(makers[name]())
                continue
        text, value = _render(problem, steps, rng)
        traces.append(Trace(text, value, None, True))
    return traces
