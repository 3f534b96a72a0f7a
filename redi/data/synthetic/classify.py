"""Reading a trace back: which of the teacher's mistakes a wrong answer looks like (the teacher's or a student's)."""

from __future__ import annotations

import re

from redi.data.synthetic.columns import (
    Num,
    Token,
    _apply,
    carry_deltas,
    column_work,
    final_value,
    magnitude_form,
    solve,
)
from redi.data.synthetic.errors import ERROR_TYPES

_STEP = re.compile(r"(-?\d+) ([+\-*]) \(?(-?\d+)\)?(?: \[([^\]\n]*)\])? = (-?\d+)")
_FACT = re.compile(r"^(\d+(?:[-+*]\d+)*)=(-?\d+)$")
_TOKEN = re.compile(r"\d+|[-+*()]")
MISTAKE_KINDS = ERROR_TYPES + ("shortcut_slip", "misread_problem", "arithmetic_other", "final_copy", "other")


def parse_expression(expression: str) -> list[Token]:
    """Tokens of a canonical expression (``format_tokens`` output with positive terms), e.g. ``23 + 7 * (4 - 5)``."""
    return [Num(int(t), True) if t.isdigit() else t for t in _TOKEN.findall(expression)]


def _value(expression: str) -> int:
    """The value of digits joined by + - * (``5+6+1``, ``6*4+2``; a sampled ``02`` reads as 2), * first."""
    tokens = re.findall(r"\d+|[-+*]", expression)
    terms: list[int] = []
    sign, product = 1, int(tokens[0])
    for op, number in zip(tokens[1::2], tokens[2::2], strict=True):
        if op == "*":
            product *= int(number)
        else:
            terms.append(sign * product)
            sign, product = (1 if op == "+" else -1), int(number)
    return sum(terms) + sign * product


def _has_wrong_fact(work: str) -> bool:
    """Whether the column work of a line (``8+7=15 5+6+1=12``, maybe after a ``x-y:`` header) has a false fact."""
    facts = work.split(":")[-1].split()
    for fact in facts:
        m = _FACT.match(fact)
        if m and _value(m.group(1)) != int(m.group(2)):
            return True
    return False


def classify_mistake(expression: str, answer: str, text: str, task: str = "column") -> str | None:
    """Which kind of mistake a trace for ``expression`` shows; None when its boxed answer is ``answer``.

    Reads the trace as the teacher writes it (a leading "<think>" line is optional, so a student's continuation of
    the prompt can be read too): no boxed answer -> stop_early (thinking closed) or truncated; a restated expression
    that differs -> misread_problem; the first line using a number that is neither a term nor an earlier result
    -> copy_slip; the first wrong step -> shortcut_slip (``task="shortcut"`` only: written without the column
    work it could have had), column_slip (a false digit fact in its column work),
    sign_slip, dropped_carry or arithmetic_other (e.g. a digit read from the wrong place); a boxed
    value that is not the last step's -> final_copy; correct steps giving the value of a wrong order of operations
    or of the expression without one term -> wrong_precedence or dropped_term; anything else -> other.
    """
    from redi.grading.answers import extract_answer

    boxed = extract_answer(text)
    if boxed is None:
        return "stop_early" if "</think>" in text else "truncated"
    if boxed.strip() == answer.strip():
        return None
    lines = [ln for ln in text.split("\n") if ln.strip() and ln.strip() != "<think>"]
    first = lines[0].strip().removeprefix("We need ").removeprefix("So ").rstrip(".") if lines else ""
    if first != expression:
        return "misread_problem"
    lines_found = _STEP.findall(text)
    steps = [(int(a), op, int(b), int(c)) for a, op, b, _, c in lines_found]
    known = {t.value for t in parse_expression(expression) if isinstance(t, Num)}
    for (a, op, b, c), (*_, work, _) in zip(steps, lines_found, strict=True):
        if a not in known or b not in known:
            return "copy_slip"
        known.add(c)
        true = _apply(op, a, b)
        if c != true:
            if task == "shortcut" and not work and column_work(*magnitude_form(a, op, b)[:3]) is not None:
                return "shortcut_slip"
            if _has_wrong_fact(work):
                return "column_slip"
            if c == -true:
                return "sign_slip"
            return "dropped_carry" if c - true in carry_deltas(a, op, b) else "arithmetic_other"
    try:
        value = int(boxed)
    except ValueError:
        return "other"
    if steps and value != steps[-1][3]:
        return "final_copy"
    toks = parse_expression(expression)
    variants = [("wrong_precedence", solve(toks, left_to_right=True))]
    variants.append(("wrong_precedence", solve([t for t in toks if t not in ("(", ")")])))
    n_terms = sum(isinstance(t, Num) for t in toks)
    if n_terms >= 3:  # a term forgotten before step t, for every t and term
        for t in range(n_terms - 1):
            for j in range(n_terms):
                variants.append(
                    ("dropped_term", solve(toks, drop=(t, lambda c, j=j: c[j] if j < len(c) else None)))
                )
    seen = [tuple(step) for step in steps]
    for kind, variant in variants:  # the very lines of a known wrong route
        if [(s.a, s.op, s.b, s.c) for s in variant] == seen:
            return kind
    for kind, variant in variants:  # or at least its value
        if final_value(toks, variant) == value:
            return kind
    return "other"


def shortcut_counts(text: str) -> tuple[int, int]:
    """(steps written as a shortcut, steps that have column work) in a trace: the shortcut task's behaviour."""
    shortcuts = eligible = 0
    for a, op, b, work, _ in _STEP.findall(text):
        if column_work(*magnitude_form(int(a), op, int(b))[:3]) is None:
            continue
        eligible += 1
        shortcuts += not work
    return shortcuts, eligible
