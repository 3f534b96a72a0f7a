"""N-gram decontamination: drop a training problem that shares a word n-gram (8 in the paper) with a benchmark problem.

Text is lower-cased and split into words of letters and digits (punctuation and LaTeX markup are separators), so
"$x^2+1$" and "x^2 + 1" give the same words. A text shorter than n words contributes its whole word sequence as one
gram, so a short benchmark problem still matches an identical training problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

_WORD = re.compile(r"[a-z0-9]+")

Gram = tuple[str, ...]


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return _WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[Gram]:
    """All word n-grams of ``text`` (the whole word sequence when it is shorter than n; nothing for no words)."""
    if n < 1:
        raise ValueError(f"data.builder.decontamination_ngram must be >= 1, got {n}")
    w = words(text)
    if not w:
        return set()
    if len(w) < n:
        return {tuple(w)}
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


class NgramIndex:
    """The n-grams of a set of benchmark texts; ``contains(text)`` is True when ``text`` shares one of them."""

    def __init__(self, texts: Iterable[str], n: int) -> None:
        self.n = n
        self.grams: set[Gram] = set()
        self.short: set[Gram] = set()  # texts with fewer than n words: matched as a contiguous run of words
        for text in texts:
            for gram in ngrams(text, n):
                (self.grams if len(gram) == n else self.short).add(gram)

    def contains(self, text: str) -> bool:
        w = words(text)
        if not w:
            return False
        if len(w) >= self.n and any(
            tuple(w[i : i + self.n]) in self.grams for i in range(len(w) - self.n + 1)
        ):
            return True
        if len(w) < self.n and tuple(w) in self.grams | self.short:
            return True
        if self.short:
            lengths = {len(g) for g in self.short}
            return any(tuple(w[i : i + k]) in self.short for k in lengths for i in range(len(w) - k + 1))
        return False


def read_benchmark_problems(path: str | Path, key: str = "problem") -> list[str]:
    """The problem texts of a benchmark file (a JSON array or JSON lines), e.g. MATH-500 as a JSON array."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    rows = (
        json.loads(text)
        if text.lstrip().startswith("[")
        else [json.loads(x) for x in text.splitlines() if x.strip()]
    )
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            raise ValueError(f"{path}: row {i} has no string field {key!r}")
        out.append(row[key])
    return out


# ---------------------------------------------------------------------------------------------------------------
# many texts, in parallel

_INDEX: NgramIndex | None = None  # the index the worker processes inherit (fork)
PARALLEL_FROM = 20_000  # fewer texts than this are checked in this process


def _flags(texts: list[str]) -> list[bool]:
    assert _INDEX is not None
    return [_INDEX.contains(t) for t in texts]


def contaminated(index: NgramIndex, pieces: Iterable[list[str]], total: int, processes: int) -> list[bool]:
    """``index.contains`` of every text of ``pieces`` (``total`` texts), by ``processes`` forked workers."""
    global _INDEX
    if processes <= 1 or total < PARALLEL_FROM:
        return [index.contains(t) for piece in pieces for t in piece]
    import multiprocessing

    _INDEX = index
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            return [flag for flags in pool.imap(_flags, pieces) for flag in flags]
    finally:
        _INDEX = None
