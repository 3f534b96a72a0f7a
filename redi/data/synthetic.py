"""The synthetic teacher: arithmetic problems with several step-by-step traces each, some with realistic mistakes.

Why it looks like this (docs/synthetic_teacher.md has the measurements): the CPU stand-in for DeepSeek-R1 traces must
give a tiny model a task it learns partly but not fully, and negatives whose mistakes are the kind the student makes.
So a problem is an expression of 2-5 terms with +, -, * (parentheses at higher difficulty), sometimes wrapped in a
short story; a trace restates the expression, does one operation per line with its column work written out
lowest digit first ("58 + 67 [8+7=15 5+6+1=12] = 125", the way MINIATURE.md's probe made addition learnable for a
0.7M-parameter model: a one-shot "58 + 67 = 125" is not learned in a CPU budget) and ends in \\boxed{}.
A mistake (dropped carry, sign slip, wrong precedence, dropped term) changes an intermediate result that later lines
build on, so it changes the final answer and many tokens, and it falls preferentially on hard problems and hard
steps (carries, products, many terms); a dropped carry shows in the column work, as a student's would. Two more
failure modes have no answer at all: stopping early, truncation.
Every trace is then marked by the project's grader (redi.eval.grading) against the true answer, and the rows come out in
the Open-R1 schema so the same builder makes D_SFT and D_Pref from them.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from redi.config import GraderConfig, SyntheticTeacherConfig

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


# ---------------------------------------------------------------------------------------------------------------
# expressions


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
    their own header when they differ from the line (``19 - 24 [24-19: 14-9=5 2-1-1=0] = -5``)."""
    b = f"({step.b})" if step.b < 0 else str(step.b)
    head = f"{step.a} {step.op} {b}"
    x, mop, y, sign = magnitude_form(step.a, step.op, step.b)
    work = column_work(x, mop, y, drop=step.dropped_carry, slip=step.column_slip)
    if work is None:
        return f"{head} = {step.c}"
    facts = " ".join(work[0])
    if (x, mop, y, sign) != (step.a, step.op, step.b, 1):
        facts = f"{x}{mop}{y}: {facts}"
    return f"{head} [{facts}] = {step.c}"


# ---------------------------------------------------------------------------------------------------------------
# problems


@dataclass(frozen=True)
class Problem:
    tokens: tuple[Token, ...]
    text: str
    kind: str  # arithmetic | word

    @property
    def expression(self) -> str:
        return format_tokens(self.tokens)

    @property
    def answer(self) -> int:
        toks = list(self.tokens)
        return final_value(toks, solve(toks))


@dataclass(frozen=True)
class _Ranges:
    max_terms: int
    add_max: int
    mul_small: int
    mul_max: int
    p_mul: float
    p_paren: float


def _ranges(d: float) -> _Ranges:
    return _Ranges(
        max_terms=2 + round(3 * d),
        add_max=int(round(10 ** (1 + 1.5 * d))),  # 10 .. ~316
        mul_small=3 + round(6 * d),  # single-digit factor up to 3 .. 9
        mul_max=int(round(10 ** (1 + d))),  # other factor up to 10 .. 100
        p_mul=0.15 + 0.25 * d,
        p_paren=0.6 * d,
    )


def _sample_tokens(rng: random.Random, d: float) -> list[Token]:
    r = _ranges(d)
    n = rng.randint(2, r.max_terms)
    ops: list[str] = []
    for _ in range(n - 1):
        can_mul = not ops or ops[-1] != "*"  # no chained products: numbers stay small
        ops.append("*" if can_mul and rng.random() < r.p_mul else rng.choice("+-"))
    vals = [rng.randint(1, r.add_max) for _ in range(n)]
    for i, op in enumerate(ops):
        if op == "*":
            small, big = (i, i + 1) if rng.random() < 0.5 else (i + 1, i)
            vals[small] = rng.randint(2, r.mul_small)
            vals[big] = rng.randint(2, r.mul_max)
    tokens: list[Token] = [Num(vals[0], True)]
    for op, v in zip(ops, vals[1:], strict=True):
        tokens += [op, Num(v, True)]
    if n >= 3 and rng.random() < r.p_paren:
        groups = [(i, j) for i in range(n) for j in range(i + 1, n) if (i, j) != (0, n - 1)]
        groups = [(i, j) for i, j in groups if any(o in "+-" for o in ops[i:j])]
        if groups:
            i, j = rng.choice(groups)
            tokens.insert(2 * j + 1, ")")
            tokens.insert(2 * i, "(")
    return tokens


_NAMES = (
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Goran",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
)
_ITEMS = (
    "apples",
    "stickers",
    "coins",
    "marbles",
    "cards",
    "stamps",
    "pencils",
    "shells",
    "beads",
    "tickets",
)


def _word_problem(rng: random.Random, d: float) -> tuple[list[Token], str]:
    """A short story whose answer is a 2-4 term expression (the same computation as a symbolic problem)."""
    r = _ranges(d)
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    big = lambda: rng.randint(5, max(r.add_max, 12))  # noqa: E731
    small = lambda: rng.randint(2, r.mul_small)  # noqa: E731
    mid = lambda: rng.randint(2, r.mul_max)  # noqa: E731
    kind = rng.randrange(7)
    if kind == 0:
        a, b = small(), mid()
        return [Num(a, True), "*", Num(b, True)], f"A box holds {b} {item}. How many {item} are in {a} boxes?"
    if kind == 1:
        a, b, c = big(), big(), big()
        return [Num(a, True), "+", Num(b, True), "-", Num(c, True)], (
            f"{name} had {a} {item}, got {b} more and then gave away {c}. How many {item} does {name} have now?"
        )
    if kind == 2:
        a, b, c = big(), small(), mid()
        return [Num(a, True), "+", Num(b, True), "*", Num(c, True)], (
            f"{name} has {a} {item} and buys {b} packs with {c} {item} in each. How many {item} does {name} have?"
        )
    if kind == 3:
        a, b, c = big(), small(), mid()
        return [Num(a, True), "-", Num(b, True), "*", Num(c, True)], (
            f"A tank holds {a} liters of water. {b} buckets of {c} liters each are poured out. "
            "How many liters are left in the tank?"
        )
    if kind == 4:
        a, b, c, e = small(), mid(), small(), mid()
        return [Num(a, True), "*", Num(b, True), "+", Num(c, True), "*", Num(e, True)], (
            f"{name} buys {a} bags of {b} {item} and {c} bags of {e} {item}. How many {item} is that in total?"
        )
    if kind == 5:
        a, b, c = rng.randint(1, 30), big(), rng.randint(1, 30)
        return [Num(a, True), "-", Num(b, True), "+", Num(c, True)], (
            f"The temperature was {a} degrees. It fell by {b} degrees and then rose by {c} degrees. "
            "What is the temperature now?"
        )
    a, b, c, e = big(), big(), small(), mid()
    return [Num(a, True), "-", Num(b, True), "+", Num(c, True), "*", Num(e, True)], (
        f"{name} scored {a} points, lost {b} points, then won {c} rounds worth {e} points each. "
        f"What is {name}'s final score?"
    )


_WORDS = {"+": "plus", "-": "minus", "*": "times"}


def _phrase(tokens: list[Token], rng: random.Random) -> str:
    """The problem text for a symbolic expression, in one of several phrasings."""
    expr = format_tokens(tokens)
    forms = [
        f"Compute {expr}.",
        f"What is {expr}?",
        f"Evaluate the expression {expr}.",
        f"Find the value of $ {format_tokens(tokens, times=chr(92) + 'times')} $.",
        f"Work out {expr}.",
    ]  # every number follows a space, as in the traces, so a BPE gives it the same token in both
    if "(" not in tokens:
        words = " ".join(_WORDS[t] if isinstance(t, str) else str(t.value) for t in tokens)
        forms.append(f"What is {words}?")
    return rng.choice(forms)


def _sample_problem(rng: random.Random, cfg: SyntheticTeacherConfig) -> Problem:
    if rng.random() < cfg.word_problem_rate:
        tokens, text = _word_problem(rng, cfg.difficulty)
        return Problem(tuple(tokens), text, "word")
    tokens = _sample_tokens(rng, cfg.difficulty)
    return Problem(tuple(tokens), _phrase(tokens, rng), "arithmetic")


def is_heldout(expression: str, buckets: int) -> bool:
    """An expression belongs to the evaluation split when its CRC32 falls in bucket 0 (independent of sizes)."""
    return zlib.crc32(expression.encode()) % buckets == 0


def _problems(cfg: SyntheticTeacherConfig, n: int, heldout: bool, salt: int) -> list[Problem]:
    """``n`` distinct problems (by text) on the training or the held-out side of the expression split."""
    rng = random.Random(cfg.seed * 1_000_003 + salt)
    seen: set[str] = set()
    out: list[Problem] = []
    attempts = 0
    limit = 200 * n + 1000
    while len(out) < n:
        attempts += 1
        if attempts > limit:
            raise ValueError(
                f"data.synthetic: only {len(out)} distinct problems found in {limit} draws for num={n} at "
                f"difficulty={cfg.difficulty}; raise difficulty or lower the number of problems"
            )
        p = _sample_problem(rng, cfg)
        if p.text in seen or is_heldout(p.expression, cfg.heldout_buckets) != heldout:
            continue
        seen.add(p.text)
        out.append(p)
    return out


def hardness(problem: Problem) -> float:
    """How hard a problem is for a small student: steps, carries and products (used to place the teacher's errors)."""
    steps = solve(list(problem.tokens))
    carries = sum(len(carry_deltas(s.a, s.op, s.b)) for s in steps)
    products = sum(s.op == "*" for s in steps)
    negatives = sum(s.c < 0 for s in steps)
    return (
        len(steps)
        + 0.5 * carries
        + 0.5 * products
        + 0.5 * negatives
        + (1.0 if "(" in problem.tokens else 0.0)
    )


# ---------------------------------------------------------------------------------------------------------------
# traces


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


# ---------------------------------------------------------------------------------------------------------------
# reading a trace back: which mistake does a wrong answer look like?

_STEP = re.compile(r"(-?\d+) ([+\-*]) \(?(-?\d+)\)?(?: \[([^\]\n]*)\])? = (-?\d+)")
_FACT = re.compile(r"^(\d+(?:[-+*]\d+)*)=(-?\d+)$")
_TOKEN = re.compile(r"\d+|[-+*()]")
MISTAKE_KINDS = ERROR_TYPES + ("misread_problem", "arithmetic_other", "final_copy", "other")


def parse_expression(expression: str) -> list[Token]:
    """Tokens of a canonical expression (``format_tokens`` output with positive terms), e.g. ``23 + 7 * (4 - 5)``."""
    return [Num(int(t), True) if t.isdigit() else t for t in _TOKEN.findall(expression)]


def _has_wrong_fact(work: str) -> bool:
    """Whether the column work of a line (``8+7=15 5+6+1=12``, maybe after a ``x-y:`` header) has a false fact."""
    facts = work.split(":")[-1].split()
    for fact in facts:
        m = _FACT.match(fact)
        if m and eval(m.group(1)) != int(m.group(2)):  # noqa: S307 - digits and + - * only (checked by _FACT)
            return True
    return False


def classify_mistake(expression: str, answer: str, text: str) -> str | None:
    """Which kind of mistake a trace for ``expression`` shows; None when its boxed answer is ``answer``.

    Reads the trace as the teacher writes it (a leading "<think>" line is optional, so a student's continuation of
    the prompt can be read too): no boxed answer -> stop_early (thinking closed) or truncated; a restated expression
    that differs -> misread_problem; the first line using a number that is neither a term nor an earlier result
    -> copy_slip; the first wrong step -> column_slip (a false digit fact in its column work),
    sign_slip, dropped_carry or arithmetic_other (e.g. a digit read from the wrong place); a boxed
    value that is not the last step's -> final_copy; correct steps giving the value of a wrong order of operations
    or of the expression without one term -> wrong_precedence or dropped_term; anything else -> other.
    """
    from redi.eval.grading import extract_answer

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


# ---------------------------------------------------------------------------------------------------------------
# public interface


def validate_teacher_config(cfg: SyntheticTeacherConfig) -> None:
    """Raise naming the key and value of a setting the teacher cannot use."""
    if cfg.num_problems < 1 or cfg.num_eval_problems < 0:
        raise ValueError(
            f"data.synthetic: num_problems must be >= 1 and num_eval_problems >= 0, got "
            f"{cfg.num_problems}, {cfg.num_eval_problems}"
        )
    if not 1 <= cfg.min_traces <= cfg.max_traces:
        raise ValueError(
            f"data.synthetic: need 1 <= min_traces <= max_traces, got {cfg.min_traces}, {cfg.max_traces}"
        )
    for key in ("difficulty", "error_rate", "error_concentration", "word_problem_rate"):
        value = getattr(cfg, key)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"data.synthetic.{key} must be in [0, 1], got {value!r}")
    unknown = sorted(set(cfg.error_types) - set(ERROR_TYPES))
    if unknown:
        raise ValueError(f"data.synthetic.error_types: unknown type(s) {unknown}; known: {list(ERROR_TYPES)}")
    if any(w < 0 for w in cfg.error_types.values()) or (
        cfg.error_rate > 0 and not any(cfg.error_types.values())
    ):
        raise ValueError(
            f"data.synthetic.error_types: weights must be >= 0 and not all 0, got {dict(cfg.error_types)}"
        )
    if cfg.heldout_buckets < 2:
        raise ValueError(f"data.synthetic.heldout_buckets must be >= 2, got {cfg.heldout_buckets}")


def grade_traces(texts: list[str], golds: list[str], grader_cfg: GraderConfig | None = None) -> list[bool]:
    """The project's grader's verdicts (last \\boxed{} against the gold)."""
    from redi.eval.grading import Grader

    with Grader(grader_cfg or GraderConfig()) as grader:
        return [v.correct for v in grader.grade(texts, golds)]


def generate_teacher_rows(cfg: SyntheticTeacherConfig, grader_cfg: GraderConfig | None = None) -> list[dict]:
    """Training rows in the Open-R1 schema, deterministic given ``cfg``.

    Columns: problem, answer, source, uuid, problem_is_valid, problem_type, question_type, expression, generations,
    correctness_math_verify, correctness_llama (both the grader's verdict: the teacher has one verifier),
    is_reasoning_complete, finish_reasons, error_types (the injected mistake per trace, or None).
    """
    validate_teacher_config(cfg)
    problems = _problems(cfg, cfg.num_problems, heldout=False, salt=1)
    rng = random.Random(cfg.seed * 1_000_003 + 2)
    hard = [hardness(p) for p in problems]
    mean_hard = sum(hard) / len(hard)
    rows, texts, golds = [], [], []
    for i, (p, h) in enumerate(zip(problems, hard, strict=True)):
        scale = (1.0 - cfg.error_concentration) + cfg.error_concentration * h / mean_hard
        p_error = min(0.95, cfg.error_rate * scale)
        n = rng.randint(cfg.min_traces, cfg.max_traces)
        traces = make_traces(p, n, p_error, cfg, rng)
        answer = str(p.answer)
        rows.append(
            {
                "problem": p.text,
                "answer": answer,
                "source": f"synthetic_{p.kind}",
                "uuid": f"synthetic-{cfg.seed}-{i:06d}",
                "problem_is_valid": "yes",
                "problem_type": "Arithmetic",
                "question_type": "math-word-problem",
                "expression": p.expression,
                "generations": [t.text for t in traces],
                "is_reasoning_complete": [t.complete for t in traces],
                "finish_reasons": ["stop" if t.complete else "length" for t in traces],
                "error_types": [t.error for t in traces],
            }
        )
        texts += [t.text for t in traces]
        golds += [answer] * len(traces)
    verdicts = iter(grade_traces(texts, golds, grader_cfg))
    for row in rows:
        marks = [next(verdicts) for _ in row["generations"]]
        row["correctness_math_verify"] = marks
        row["correctness_llama"] = list(marks)
    return rows


def heldout_problems(cfg: SyntheticTeacherConfig) -> list[dict]:
    """The evaluation split: ``cfg.num_eval_problems`` problems whose expressions never occur in training.

    Keys: id, problem, answer (an integer as a string), expression. Deterministic given cfg.seed and the generator
    settings; the split is by a hash of the expression, so it does not depend on ``num_problems``.
    """
    validate_teacher_config(cfg)
    problems = _problems(cfg, cfg.num_eval_problems, heldout=True, salt=3)
    return [
        {
            "id": f"synthetic-eval-{cfg.seed}-{i:04d}",
            "problem": p.text,
            "answer": str(p.answer),
            "expression": p.expression,
        }
        for i, p in enumerate(problems)
    ]
