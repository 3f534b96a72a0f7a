"""Where a wrong trace goes wrong, and how alike two sets of mistakes are (for the diagnostics of a pair set).

A negative can only teach the student something at a place where the student itself might go wrong: the paper's
pairs are R1's traces, whose mistakes fall where a reasoning model is unsure. :func:`first_error_site` finds, in a
trace of the synthetic task, the first character where its first wrong step line departs from that line written
correctly (the two continuations the student's log-probs are compared on: a small margin is a mistake the student
could make, a large one a mistake it would not); :func:`kind_overlap` compares two mixes of mistake kinds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from redi.data.synthetic.columns import Step, _apply, column_work, format_step, magnitude_form

_STEP_LINE = re.compile(r"(-?\d+) ([+\-*]) \(?(-?\d+)\)?(?: \[([^\]\n]*)\])? = (-?\d+)")


@dataclass(frozen=True)
class ErrorSite:
    """The first wrong step of a trace: ``offset`` of its first wrong character, and both rests of that line."""

    offset: int
    wrong: str  # the trace's line from the offset on
    correct: str  # the same line written correctly, from the offset on


def _correct_line(a: int, op: str, b: int, written_with_work: bool) -> str:
    """The step line ``a op b`` with its true result, with column work when the trace wrote it (or it had to)."""
    true = _apply(op, a, b)
    has_work = column_work(*magnitude_form(a, op, b)[:3]) is not None
    return format_step(Step(a, op, b, true, (), shortcut=has_work and not written_with_work))


def first_error_site(text: str) -> ErrorSite | None:
    """The first step line of ``text`` that is not its correct form, or None (no wrong step line: the mistake, if
    any, is elsewhere, e.g. the order of operations or a stop)."""
    for m in _STEP_LINE.finditer(text):
        a, op, b = int(m[1]), m[2], int(m[3])
        line = m.group(0)
        correct = _correct_line(a, op, b, written_with_work=m[4] is not None)
        if line == correct:
            continue
        k = next(
            (i for i, (x, y) in enumerate(zip(line, correct, strict=False)) if x != y),
            min(len(line), len(correct)),
        )
        return ErrorSite(m.start() + k, line[k:], correct[k:])
    return None


def kind_shares(kinds: Iterable[str]) -> dict[str, float]:
    """Each mistake kind's share of ``kinds`` (empty -> {})."""
    counts = Counter(kinds)
    total = sum(counts.values())
    return {k: n / total for k, n in counts.most_common()} if total else {}


def kind_overlap(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Sum over kinds of min(a_k, b_k): 1 when two mixes of mistakes are the same, 0 when no kind is shared."""
    return sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b))


def continuation_margin(model, tokenizer, context: str, correct: str, wrong: str) -> float:
    """log p(correct | context) - log p(wrong | context) in nats under ``model`` (a causal LM, no gradient).

    Each variant is tokenised whole (context + continuation); the tokens after the longest common token prefix of
    the two are scored, so a token that straddles the split is compared as the model would read it.
    """
    import torch

    a = tokenizer(context + correct, add_special_tokens=False)["input_ids"]
    b = tokenizer(context + wrong, add_special_tokens=False)["input_ids"]
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    common = max(1, common)  # the first token has no prediction to score

    def tail_logp(ids: list[int]) -> float:
        if len(ids) <= common:
            return 0.0
        x = torch.tensor([ids], device=next(model.parameters()).device)
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=x).logits[0, :-1].float(), dim=-1)  # [T-1, V]
        picked = logp.gather(1, x[0, 1:, None])[:, 0]  # log p(token t | tokens < t), t = 1..T-1
        return float(picked[common - 1 :].sum())

    return tail_logp(a) - tail_logp(b)
