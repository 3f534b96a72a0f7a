"""Text for the synthetic OpenR1-Math-Raw rows: problems, reference solutions and R1-style reasoning traces.

The texts only need the properties the data build depends on: a byte-level BPE tokenizer should compress them
about as it compresses real math reasoning (prose, LaTeX, digits split one per token: 3.5-4 bytes per token), zstd
should compress them about as it compresses real text (no long repeats within a Parquet page), word 8-grams of
problems should be unique (so decontamination removes only the problems planted from the benchmarks), and traces
must be cheap to make at 1.2 million traces of several thousand tokens. So a trace is assembled from a seeded pool
of reasoning paragraphs (:class:`ParagraphPool`), each paragraph made once from sentence templates with random
expressions, numbers and words; a problem is made per row from its own generator (unique numbers and wording).
"""

from __future__ import annotations

import random

import numpy as np

NOUNS = (
    "integer", "sequence", "triangle", "circle", "polynomial", "function", "root", "sum", "product", "remainder",
    "divisor", "prime", "square", "cube", "angle", "side", "chord", "tangent", "radius", "area", "perimeter",
    "volume", "probability", "coefficient", "term", "digit", "matrix", "vector", "parabola", "ellipse", "set",
    "subset", "permutation", "graph", "vertex", "edge", "inequality", "equation", "interval", "limit", "derivative",
    "integral", "series", "median", "altitude", "bisector", "midpoint", "diagonal", "quadrilateral", "hexagon",
    "exponent", "logarithm", "fraction", "denominator", "numerator", "multiple", "residue", "modulus", "parity",
)  # fmt: skip
ADJECTIVES = (
    "positive", "negative", "real", "rational", "irrational", "even", "odd", "distinct", "consecutive", "minimal",
    "maximal", "largest", "smallest", "isosceles", "equilateral", "acute", "obtuse", "right", "convex", "regular",
    "arithmetic", "geometric", "symmetric", "periodic", "monotonic", "bounded", "nonzero", "integral", "perfect",
)  # fmt: skip
VERBS = (
    "compute", "check", "verify", "substitute", "factor", "expand", "simplify", "consider", "test", "compare",
    "rewrite", "square", "multiply", "divide", "subtract", "add", "evaluate", "bound", "estimate", "count",
)  # fmt: skip
NAMES = (
    "Alice",
    "Bob",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kira",
    "Liam",
)
VARIABLES = ("x", "y", "z", "a", "b", "c", "n", "m", "k", "p", "q", "t", "r", "s", "u", "v")
OPERATORS = ("+", "-", "=", r"\cdot", "<")
GREEK = (r"\alpha", r"\beta", r"\theta", r"\varphi", r"\lambda", r"\omega")
SOURCE_STYLE = {
    "olympiads": "olympiad", "olympiads_ref": "olympiad", "aops_forum": "olympiad", "inequalities": "olympiad",
    "number_theory": "olympiad", "amc_aime": "contest", "cn_contest": "contest", "synthetic_amc": "contest",
    "cn_k12": "school", "orca_math": "word", "synthetic_math": "school", "metamath": "word",
}  # fmt: skip

PROSE_SHARE = 0.55  # of sentences: prose without formulas (sets the bytes per token, ~3.6 as real traces)
_OPENERS = (
    "Okay, so I need to {verb} the {noun} here.",
    "Alright, let's see. The problem asks about the {adj} {noun}, and I want to find {var}.",
    "Hmm, let me start by writing down what is given.",
    "First, I should understand what the question is really asking for.",
)
_SENTENCES = (
    "Let me {verb} ${expr}$ first.",
    "So ${var} = {num}$, which means ${expr} = {num2}$.",
    "Wait, that doesn't seem right. Let me {verb} again.",
    "If ${var}$ is {adj}, then the {noun} must be {adj2} as well.",
    "Then ${expr} = {expr2}$, so the {noun} is ${frac}$.",
    "Hmm, maybe I should {verb} the {noun} instead of the {noun2}.",
    "Let's {verb} this step by step: ${expr}$.",
    "Therefore, ${var}^{{2}} + {num} {var} = {num2}$.",
    "But wait, when ${var} = {num}$ we get ${expr}$, and that is {num2}.",
    "So the {noun} equals ${sqrt}$, since ${expr} = {num}$.",
    "Alternatively, I can {verb} both sides by ${num}$ to get ${expr2}$.",
    "That gives {num} cases, and in each case the {noun} is {adj}.",
    "Let me double-check: {num} times {num2} is {num3}, yes.",
    "Now, the {adj} {noun} of ${expr}$ is ${frac}$.",
    "Is that correct? The {noun} of a {adj} {noun2} should be ${expr}$.",
    "Similarly, for ${var} = {num2}$ the {noun} is ${expr2}$.",
    "So, putting it together, ${expr} \\leq {expr2}$.",
    "Note that ${var} \\equiv {num} \\pmod{{{num2}}}$, so {var} is {adj}.",
    "Using the formula for the {noun}, ${expr} = \\frac{{{num}}}{{{num2}}}$.",
    "Okay, so ${frac} \\cdot {num} = {frac2}$.",
    "Hold on, I think I made a mistake with the {noun}.",
    "Let me {verb} with a concrete example: take ${var} = {num}$.",
    "Then ${greek} = {num}^\\circ$ and the {noun} is ${sqrt}$.",
    "So the answer should be {num}, but let me {verb} it once more.",
)
_PROSE = (
    "Let me think about this more carefully, because the {word} here is not obvious.",
    "I need to make sure I'm not missing any {word} in this {word2}.",
    "Maybe there's a smarter way to approach the {noun} without going through every {word}.",
    "Actually, that {word} only works if the {noun} is {adj}, which we haven't shown yet.",
    "So the key {word} is the {word2} between the {noun} and the {noun2}.",
    "But I should be careful with the {word}: the problem says the {noun} is {adj}.",
    "Okay, that makes sense now, and it matches the {word} I found earlier.",
    "Let me reconsider the {word2} from the beginning, since something feels off.",
    "This suggests a {word} argument: assume the opposite and look for a {word2}.",
    "Another {word} would be to use the {word2} of the {noun} directly.",
    "I remember a similar {word} where the {noun} turned out to be {adj}.",
    "Therefore, the {word} holds in general, not just for this particular {noun}.",
    "Wait, maybe I misread the {word}. Let me read the problem statement again.",
    "That seems consistent with the {word2}, so I'll go with this {word}.",
    "Hmm, so both {word} and {word2} lead to the same conclusion about the {noun}.",
    "In other words, every {adj} {noun} satisfies this {word}.",
)
WORDS = (
    "approach", "condition", "constraint", "property", "configuration", "assumption", "relationship",
    "statement", "observation", "possibility", "symmetry", "contradiction", "calculation", "expression",
    "substitution", "argument", "interpretation", "requirement", "definition", "pattern", "structure",
    "estimate", "reasoning", "simplification", "identity", "transformation", "assignment", "arrangement",
    "construction", "recurrence", "invariant", "bijection", "induction", "direction", "strategy", "detail",
    "example", "question", "conclusion", "situation", "information", "difference", "computation", "solution",
)  # fmt: skip
_CLOSERS = (
    "So the final answer is $\\boxed{{{answer}}}$.",
    "Therefore, the {noun} is $\\boxed{{{answer}}}$.",
    "Hence the answer is $\\boxed{{{answer}}}$.",
)


def _num(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.7:
        return str(rng.randint(0, 20))
    if r < 0.95:
        return str(rng.randint(21, 999))
    return f"{rng.randint(0, 9)}.{rng.randint(0, 99)}"


def _atom(rng: random.Random) -> str:
    return rng.choice(VARIABLES) if rng.random() < 0.5 else _num(rng)


def expression(rng: random.Random, depth: int = 2) -> str:
    """A random LaTeX expression such as ``\\frac{3x + 7}{y^2} - 12``."""
    if depth == 0 or rng.random() < 0.3:
        return _atom(rng)
    kind = rng.randrange(6)
    a, b = expression(rng, depth - 1), expression(rng, depth - 1)
    if kind == 0:
        return f"\\frac{{{a}}}{{{b}}}"
    if kind == 1:
        return f"{a}^{{{rng.randint(2, 5)}}}"
    if kind == 2:
        return f"\\sqrt{{{a}}}"
    if kind == 3:
        return f"({a} + {b})"
    return f"{a} {rng.choice(OPERATORS)} {b}"


def _fill(template: str, rng: random.Random, answer: str = "") -> str:
    return template.format(
        word=rng.choice(WORDS), word2=rng.choice(WORDS), verb=rng.choice(VERBS), noun=rng.choice(NOUNS), noun2=rng.choice(NOUNS), adj=rng.choice(ADJECTIVES),
        adj2=rng.choice(ADJECTIVES), var=rng.choice(VARIABLES), num=_num(rng), num2=_num(rng), num3=_num(rng),
        expr=expression(rng), expr2=expression(rng), greek=rng.choice(GREEK), answer=answer,
        frac=f"\\frac{{{rng.randint(1, 99)}}}{{{rng.randint(2, 99)}}}",
        frac2=f"\\frac{{{rng.randint(1, 999)}}}{{{rng.randint(2, 99)}}}", sqrt=f"\\sqrt{{{rng.randint(2, 200)}}}",
    )  # fmt: skip


def paragraph(rng: random.Random) -> str:
    """One paragraph of reasoning: 2-7 sentences."""
    picks = (
        rng.choice(_PROSE if rng.random() < PROSE_SHARE else _SENTENCES) for _ in range(rng.randint(2, 7))
    )
    return " ".join(_fill(template, rng) for template in picks)


class ParagraphPool:
    """``size`` reasoning paragraphs made once from ``seed``; traces are assembled from them by index."""

    def __init__(self, seed: int, size: int = 40_000) -> None:
        rng = random.Random(f"paragraphs-{seed}")
        self.texts = [paragraph(rng) for _ in range(size)]
        self.lengths = np.array([len(t) + 2 for t in self.texts], dtype=np.int64)  # + the "\n\n" separator
        self.mean_length = float(self.lengths.mean())

    def trace(self, rng: np.random.Generator, target_bytes: int, answer: str, complete: bool) -> str:
        """A trace of about ``target_bytes`` bytes; ``complete``: it closes its thinking and boxes ``answer``."""
        count = int(target_bytes / self.mean_length * 1.3) + 4
        picks = rng.integers(0, len(self.texts), count)
        ends = np.cumsum(self.lengths[picks])
        k = max(1, int(np.searchsorted(ends, target_bytes)))
        body = "\n\n".join(self.texts[i] for i in picks[:k])
        if not complete:  # cut mid-sentence, as a generation stopped by its token limit
            return "<think>\n" + body[: max(1, target_bytes - 8)]
        closing = _fill(_CLOSERS[int(picks[0]) % len(_CLOSERS)], random.Random(int(picks[-1])), answer)
        summary = self.texts[int(picks[k]) if k < len(picks) else int(picks[0])]
        return f"<think>\n{body}\n</think>\n\n{summary}\n\n{closing}"

    def solution(self, rng: np.random.Generator, answer: str) -> str:
        """A short reference solution (the dataset's ``solution`` column): two paragraphs and the boxed answer."""
        a, b = rng.integers(0, len(self.texts), 2)
        return f"{self.texts[a]}\n\n{self.texts[b]}\n\nAnswer: $\\boxed{{{answer}}}$"


def answer(rng: random.Random) -> str:
    """A gold answer in the dataset's forms: integers, fractions, roots, tuples, intervals, choices."""
    kind = rng.random()
    if kind < 0.45:
        return str(rng.randint(-20, 2025))
    if kind < 0.6:
        return f"\\frac{{{rng.randint(1, 99)}}}{{{rng.randint(2, 99)}}}"
    if kind < 0.7:
        return f"{rng.randint(1, 9)}\\sqrt{{{rng.choice((2, 3, 5, 6, 7))}}}"
    if kind < 0.8:
        return f"({rng.randint(-9, 9)}, {rng.randint(-9, 9)})"
    if kind < 0.88:
        return f"[{rng.randint(-9, 0)}, {rng.randint(1, 9)})"
    return rng.choice("ABCD")


_PROBLEM_LEADS = {
    "olympiad": (
        "Find all {adj} integers $n$ such that ${expr}$ is divisible by ${num}$.",
        "Let ${var}$ and ${var2}$ be {adj} real numbers with ${expr} = {num}$. Determine the {adj2} value of ${expr2}$.",
        "In triangle $ABC$, $AB = {num}$, $BC = {num2}$ and the {noun} from $A$ meets $BC$ at $D$. Find $AD$.",
        "Prove that for every {adj} integer $n$ the number ${expr}$ is not a perfect {noun}.",
        "How many {adj} subsets of $\\{{1, 2, \\ldots, {num}\\}}$ have a {noun} equal to ${num2}$?",
    ),
    "contest": (
        "What is the {adj} {noun} of ${expr}$?",
        "A {adj} {noun} has {noun2} ${num}$ and ${num2}$. What is its {noun3}?",
        "The {noun} of the first ${num}$ terms of a {adj} sequence is ${num2}$. Find the ${num3}$-th term.",
    ),
    "school": (
        "Given the function $f(x) = {expr}$, find the {noun} of $f$ on the interval $[{num}, {num2}]$.",
        "Given that ${var} = {num}$ and ${expr} = {num2}$, find the value of ${expr2}$.",
        "If the {noun} of the {adj} {noun2} ${expr}$ is ${num}$, then the value of ${var}$ is ( ).",
    ),
    "word": (
        "{name} buys {num} notebooks at ${num2}$ dollars each and {num3} pens. How much does {name} spend in total?",
        "{name} and {name2} share {num} marbles so that {name} gets {num2} more than {name2}. How many does each get?",
        "A train travels {num} km in {num2} hours. At the same speed, how far does it travel in {num3} hours?",
    ),
}
_PROBLEM_TAILS = (
    " Justify your answer.",
    " (Give the answer in simplest form.)",
    " Here ${var}$ is a {adj} {noun} with ${expr}$.",
    " Assume that ${expr} \\neq {num}$.",
    " Express your answer as a common fraction.",
)


def problem(rng: random.Random, source: str, multiple_choice: bool, target_words: int) -> str:
    """A problem in the style of ``source`` with about ``target_words`` words (unique numbers per row)."""
    style = SOURCE_STYLE.get(source, "olympiad")
    fields = {
        "name": rng.choice(NAMES), "name2": rng.choice(NAMES), "var2": rng.choice(VARIABLES),
        "noun3": rng.choice(NOUNS),
    }  # fmt: skip
    lead = (
        rng.choice(_PROBLEM_LEADS[style])
        .replace("{name}", fields["name"])
        .replace("{name2}", fields["name2"])
    )
    text = _fill(lead.replace("{var2}", fields["var2"]).replace("{noun3}", fields["noun3"]), rng)
    while len(text.split()) < target_words:
        text += _fill(rng.choice(_PROBLEM_TAILS), rng)
    if multiple_choice:
        text += "".join(f"\n\n{c}: ${expression(rng, 1)}$" for c in "ABCD")
    return text
