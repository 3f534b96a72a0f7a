"""Answer strings: the last ``\\boxed{}`` of a completion, a gold answer as a bare expression, a canonical form.

Pure string functions (no Math-Verify), used by the grader's fast path, the benchmark loaders and the synthetic
teacher's reader.
"""

from __future__ import annotations

import re

EXTRACTION_MODES = ("boxed", "latex_expr", "latex", "expr")

_BOXED = re.compile(r"\\(?:boxed|fbox)\b")


def _braced(text: str, start: int) -> str | None:
    """Content of the brace group opening at ``text[start] == '{'``, or None if it never closes (linear time).

    A backslash escapes the next character, so ``\\{`` and ``\\}`` do not count as braces.
    """
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def extract_answer(text: str, mode: str = "boxed") -> str | None:
    """The final answer in ``text``: the content of the last complete ``\\boxed{...}`` (or ``\\boxed x``).

    Only ``mode="boxed"`` extracts here; the other modes let Math-Verify find the answer in the whole text, so
    this returns ``text`` unchanged for them.
    """
    if mode != "boxed":
        if mode not in EXTRACTION_MODES:
            raise ValueError(f"grader.extraction: unknown mode {mode!r}; known: {list(EXTRACTION_MODES)}")
        return text
    for match in reversed(list(_BOXED.finditer(text))):
        pos = match.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == "{":
            content = _braced(text, pos)
            if content is not None:
                return content.strip()
        elif match.end() < len(text) and text[match.end()] == " ":  # "\boxed 5": up to the next space or $
            rest = re.match(r"[^\s$]+", text[pos:])
            if rest:
                return rest.group(0)
    return None


_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?![a-zA-Z])")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad(?![a-zA-Z])|\s+")


def normalize(answer: str) -> str:
    """A meaning-preserving canonical form for the fast path (spacing, sizing and frac variants removed)."""
    s = answer.strip().strip("$")
    s = _LEFT_RIGHT.sub("", s)
    s = _SPACING.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("^{\\circ}", "^\\circ")
    return s.rstrip(".")


def clean_gold(answer: str) -> str:
    """A gold answer as a bare expression: outer whitespace and ``$`` delimiters removed (OlympiadBench's "$69$,$84$")."""
    s = answer.strip()
    if "$" in s:  # an escaped \\$ is a currency unit, a bare $ a math delimiter: both go
        s = s.replace("\\$", "").replace("$", "").strip()
    return s
