"""Problems: expressions of 2-5 terms, phrased symbolically or as a short story, split into training and held-out
by a hash of the expression, with a hardness score that places the teacher's mistakes."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from redi.config import SyntheticTeacherConfig
from redi.data.synthetic.columns import Num, Token, carry_deltas, final_value, format_tokens, solve


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
