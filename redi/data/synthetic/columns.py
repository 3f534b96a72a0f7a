"""Expressions and their column work: the arithmetic every trace is built from.

A problem is a list of tokens (numbers and ``+ - * ( )``); ``solve`` evaluates one operation per step and can inject
the teacher's mistakes (a corrupted result, a forgotten term, a misread operand) that later steps build on;
``column_work`` writes school column arithmetic lowest digit first, and ``format_step`` renders one line of a trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

OPS = ("+", "-", "*")


@dataclass(frozen=True)
class Num:
    """A number in an expression; ``original`` marks a term of the problem (not an intermediate result)."""

    value: int
    original: bool = False


Token = Num | str  # Num or one of "+", "-", "*", "(", ")"


@dataclass(frozen=True)
class Step:
    """One line of a trace: ``a op b = c``, and what is left of the expression after it."""

    a: int
    op: str
    b: int
    c: int
    remaining: tuple[Token, ...]
    dropped_carry: int | None = None  # column whose carry (borrow) was forgotten, for a teacher's mistake
    column_slip: tuple[int, int] | None = None  # (column, amount) a digit fact of the column work is off by
    shortcut: bool = (
        False  # written without its column work (``58 + 67 = 125``): the shortcut task's risky step
    )


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def format_tokens(tokens: tuple[Token, ...] | list[Token], times: str = "*") -> str:
    """``23 + 7 * (4 - 5)``; a negative number after an operator is parenthesised."""
    out: list[str] = []
    prev: Token | None = None
    for tok in tokens:
        if isinstance(tok, Num):
            neg_inside = tok.value < 0 and prev is not None and prev != "("
            out.append(f"({tok.value})" if neg_inside else str(tok.value))
        elif tok == "(":
            out.append("(")
        elif tok == ")":
            out.append(")")
        else:
            out.append(f" {times if tok == '*' else tok} ")
        prev = tok
    return "".join(out)


def _unwrap(tokens: list[Token]) -> list[Token]:
    """Remove parentheses around a single number: ``( 5 )`` -> ``5``."""
    i = 0
    while i + 2 < len(tokens):
        if tokens[i] == "(" and isinstance(tokens[i + 1], Num) and tokens[i + 2] == ")":
            tokens[i : i + 3] = [tokens[i + 1]]
            i = max(i - 1, 0)
        else:
            i += 1
    return tokens


def _next_op(tokens: list[Token], left_to_right: bool) -> int:
    """Index of the operator evaluated next: innermost parentheses first, then * before +/- (unless left_to_right)."""
    lo, hi = 0, len(tokens)
    if ")" in tokens:
        hi = tokens.index(")")
        lo = max(i for i in range(hi) if tokens[i] == "(") + 1
    ops = [i for i in range(lo, hi) if tokens[i] in OPS]
    if not left_to_right:
        muls = [i for i in ops if tokens[i] == "*"]
        if muls:
            return muls[0]
    return ops[0]


def _without_term(tokens: list[Token], i: int) -> list[Token]:
    """``tokens`` with the number at ``i`` and its operator removed (the operator after it if it opens a group)."""
    toks = list(tokens)
    if i > 0 and toks[i - 1] in OPS:
        del toks[i - 1 : i + 1]
    else:  # first term of the expression or of a group: drop it with the operator after it
        del toks[i : i + 2]
    return _unwrap(toks)


def _drop_term(tokens: list[Token], pick: Callable[[list[int]], int | None]) -> list[Token] | None:
    """Forget one term of the problem not used yet (``pick`` chooses its position); None if none can be dropped."""
    candidates = [i for i, t in enumerate(tokens) if isinstance(t, Num) and t.original]
    if not candidates or sum(isinstance(t, Num) for t in tokens) < 2:
        return None
    i = pick(candidates)
    return None if i is None else _without_term(tokens, i)


def solve(
    tokens: list[Token],
    left_to_right: bool = False,
    corrupt: tuple[int, Callable[[int, str, int, int], int]]
    | tuple[int, Callable[[int, str, int, int], int], int | tuple[int, int]]
    | None = None,
    drop: tuple[int, Callable[[list[int]], int | None]] | None = None,
    misread: tuple[int, int, int] | None = None,
) -> list[Step]:
    """Evaluate one operation per step; ``corrupt=(t, f)`` replaces step t's result by f(a, op, b, c) (a third
    item, the column whose carry the mistake forgot or the (column, amount) of a slipped digit fact, makes the
    trace's column work show it) and
    ``drop=(t, pick)`` forgets the term ``pick(positions of unused terms)`` just before step t; ``misread=(t, side,
    value)`` copies step t's left (side 0) or right (side 1) operand wrongly as ``value``; every mistake carries
    through the later steps."""
    toks = _unwrap(list(tokens))
    steps: list[Step] = []
    dropped = False
    while sum(isinstance(t, Num) for t in toks) > 1:
        if drop is not None and not dropped and len(steps) == drop[0]:
            new = _drop_term(toks, drop[1])
            dropped = True
            if new is not None:
                toks = new
                if steps:  # the rewrite after the previous line is where the term went missing
                    steps[-1] = Step(steps[-1].a, steps[-1].op, steps[-1].b, steps[-1].c, tuple(toks))
                if sum(isinstance(t, Num) for t in toks) <= 1:
                    break
        k = _next_op(toks, left_to_right)
        a, op, b = toks[k - 1], toks[k], toks[k + 1]
        assert isinstance(a, Num) and isinstance(b, Num) and isinstance(op, str)
        if misread is not None and len(steps) == misread[0]:
            a, b = (Num(misread[2], a.original), b) if misread[1] == 0 else (a, Num(misread[2], b.original))
        c = _apply(op, a.value, b.value)
        if corrupt is not None and len(steps) == corrupt[0]:
            c = corrupt[1](a.value, op, b.value, c)
            note = corrupt[2] if len(corrupt) > 2 else None
        else:
            note = None
        toks[k - 1 : k + 2] = [Num(c)]
        toks = _unwrap(toks)
        steps.append(
            Step(
                a.value,
                op,
                b.value,
                c,
                tuple(toks),
                dropped_carry=note if isinstance(note, int) else None,
                column_slip=note if isinstance(note, tuple) else None,
            )
        )
    return steps


def final_value(tokens: list[Token], steps: list[Step]) -> int:
    """The value a trace ends with (the last step's result, or the lone number if there was nothing to do)."""
    if steps:
        return steps[-1].remaining[0].value if len(steps[-1].remaining) == 1 else steps[-1].c  # type: ignore[union-attr]
    return next(t.value for t in tokens if isinstance(t, Num))


def magnitude_form(a: int, op: str, b: int) -> tuple[int, str, int, int]:
    """``a op b`` as ``sign * (x mop y)`` with x, y >= 0 and x >= y for "-": the form column arithmetic works on.

    (-45) + 36 -> (45, "-", 36, -1); 19 - 24 -> (24, "-", 19, -1); (-12) * 3 -> (12, "*", 3, -1).
    """
    if op == "*":
        return abs(a), "*", abs(b), -1 if (a < 0) != (b < 0) else 1
    signed_b = b if op == "+" else -b
    if a >= 0 and signed_b >= 0:
        return a, "+", signed_b, 1
    if a < 0 and signed_b < 0:
        return -a, "+", -signed_b, -1
    pos, neg = (a, -signed_b) if a >= 0 else (signed_b, -a)
    return (pos, "-", neg, 1) if pos >= neg else (neg, "-", pos, -1)


def _digits(n: int) -> list[int]:
    """Digits lowest first: 305 -> [5, 0, 3]."""
    return [int(d) for d in reversed(str(n))]


def column_work(
    x: int, mop: str, y: int, drop: int | None = None, slip: tuple[int, int] | None = None
) -> tuple[list[str], int] | None:
    """School column arithmetic on magnitudes, lowest digit first: the facts written and the value they give.

    ``58 + 67`` -> ["8+7=15", "5+6+1=12"], 125; ``52 - 17`` -> ["12-7=5", "5-1-1=3"], 35 (a borrowing column
    shows the borrowed ten, the next one the borrowed 1); ``38 * 7`` -> ["8*7=56", "3*7+5=26"], 266 (one factor
    must be a single digit; None for two multi-digit factors, which are written without work). ``drop=i`` forgets
    the carry (borrow) out of column i, the teacher's dropped-carry mistake; the last column's carry is the
    leading digit of its sum, so dropping it keeps only that sum's last digit. ``slip=(i, k)`` writes column i's
    fact k off (``8+7=16``) and goes on from the wrong digit, the student's most common slip.
    """

    def slipped(i: int, value: int) -> int:
        return value + slip[1] if slip is not None and slip[0] == i else value

    if mop == "*":
        if min(x, y) >= 10:
            return None
        digit, other = (x, y) if x < 10 and (y >= 10 or x <= y) else (y, x)
        facts, written, carry = [], [], 0
        columns = _digits(other)
        for i, d in enumerate(columns):
            p = slipped(i, d * digit + carry)
            facts.append(f"{d}*{digit}" + (f"+{carry}" if carry else "") + f"={p}")
            last = i == len(columns) - 1
            written.append(p if last and drop != i else p % 10)
            carry = 0 if drop == i else p // 10
        value = int("".join(str(w) for w in reversed(written)))
        return facts, value
    xs, ys = _digits(x), _digits(y)
    n = max(len(xs), len(ys))
    xs, ys = xs + [0] * (n - len(xs)), ys + [0] * (n - len(ys))
    facts, written, carry = [], [], 0
    for i in range(n):
        last = i == n - 1
        if mop == "+":
            s = slipped(i, xs[i] + ys[i] + carry)
            facts.append(f"{xs[i]}+{ys[i]}" + ("+1" if carry else "") + f"={s}")
            written.append(s if last and drop != i else s % 10)
            carry = 0 if drop == i else s // 10
        else:
            d = xs[i] - carry - ys[i]
            borrow = 1 if d < 0 else 0
            top = xs[i] + 10 * borrow
            digit = slipped(i, d + 10 * borrow)
            facts.append(f"{top}" + ("-1" if carry else "") + f"-{ys[i]}={digit}")
            written.append(digit)
            carry = 0 if drop == i else borrow
    value = int("".join(str(w) for w in reversed(written)))
    return facts, value


def carry_columns(x: int, mop: str, y: int) -> list[int]:
    """Columns of ``column_work(x, mop, y)`` whose carry (borrow) can be forgotten."""
    work = column_work(x, mop, y)
    if work is None:
        return []
    true = work[1]
    return [i for i in range(len(work[0])) if column_work(x, mop, y, drop=i)[1] != true]  # type: ignore[index]


def column_slips(x: int, mop: str, y: int) -> list[tuple[int, int]]:
    """(column, amount) pairs for a slipped digit fact of ``column_work(x, mop, y)`` that stays a valid digit."""
    work = column_work(x, mop, y)
    if work is None:
        return []
    out = []
    for i, fact in enumerate(work[0]):
        value = int(fact.split("=")[1])
        for k in (-1, 1):
            if value + k >= 0 and (mop != "-" or value + k <= 9):
                out.append((i, k))
    return out


def worked_value(
    a: int, op: str, b: int, drop: int | None = None, slip: tuple[int, int] | None = None
) -> int:
    """``a op b`` as its column work gives it, with a forgotten carry or a slipped fact (see ``column_work``)."""
    x, mop, y, sign = magnitude_form(a, op, b)
    return sign * column_work(x, mop, y, drop=drop, slip=slip)[1]  # type: ignore[index]


def carry_deltas(a: int, op: str, b: int) -> list[int]:
    """How the result of ``a op b`` changes when one carry (or borrow) of its column work is forgotten."""
    true = _apply(op, a, b)
    return [worked_value(a, op, b, drop=i) - true for i in carry_columns(*magnitude_form(a, op, b)[:3])]


def format_step(step: Step) -> str:
    """One line of work: ``58 + 67 [8+7=15 5+6+1=12] = 125``; the column facts are on the magnitudes, with
    their own header when they differ from the line (``19 - 24 [24-19: 14-9=5 2-1-1=0] = -5``); a shortcut
    step is written without them (``58 + 67 = 125``)."""
    b = f"({step.b})" if step.b < 0 else str(step.b)
    head = f"{step.a} {step.op} {b}"
    x, mop, y, sign = magnitude_form(step.a, step.op, step.b)
    work = column_work(x, mop, y, drop=step.dropped_carry, slip=step.column_slip)
    if work is None or step.shortcut:
        return f"{head} = {step.c}"
    facts = " ".join(work[0])
    if (x, mop, y, sign) != (step.a, step.op, step.b, 1):
        facts = f"{x}{mop}{y}: {facts}"
    return f"{head} [{facts}] = {step.c}"
