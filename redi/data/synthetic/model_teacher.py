"""A teacher that is a model: its graded samples as Open-R1-schema rows, and what they say about the teacher.

The stage that trains and samples the teacher is redi.stages.teacher; this module holds the pure parts: the rows
(one per training problem, the teacher's ``num_samples`` traces in ``generations`` with the grader's verdicts in
both verdict columns and the mistake kind of every wrong trace in ``error_types``, read back by
:func:`redi.data.synthetic.classify.classify_mistake`), and a summary of the draw: how often the teacher is right,
on which problems it fails (by hardness), and which kinds of mistake its wrong traces show.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from redi.config import SyntheticTeacherConfig
from redi.data.synthetic.classify import classify_mistake
from redi.data.synthetic.problems import Problem, hardness
from redi.data.synthetic.teacher import problem_row

THINK = (
    "<think>\n"  # the chat template opens the thinking; an R1 trace starts with it, so the teacher's do too
)
HARDNESS_BINS = 5


@dataclass(frozen=True)
class GradedSample:
    """One sampled trace (the model's continuation after the generation prompt), its verdict and why it stopped."""

    text: str
    correct: bool
    finish_reason: str  # "stop" | "length"


def teacher_rows(
    cfg: SyntheticTeacherConfig, problems: list[Problem], samples: list[list[GradedSample]]
) -> list[dict]:
    """One Open-R1-schema row per problem from its graded samples (verdicts from the grader, mistakes classified)."""
    rows = []
    for i, (problem, graded) in enumerate(zip(problems, samples, strict=True)):
        texts = [s.text if s.text.startswith(THINK) else THINK + s.text for s in graded]
        errors = [
            None
            if s.correct
            else classify_mistake(problem.expression, str(problem.answer), t, cfg.task)
            or "other"  # graded wrong although its boxed answer reads like the gold: the grader decides
            for s, t in zip(graded, texts, strict=True)
        ]
        row = problem_row(cfg, i, problem, texts, [s.finish_reason == "stop" for s in graded], errors)
        row["correctness_math_verify"] = [s.correct for s in graded]
        row["correctness_llama"] = [s.correct for s in graded]
        rows.append(row)
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    """The rows as JSON lines (what ``data.source=local`` reads too)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _bin_edges(values: list[float], bins: int) -> list[float]:
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, (len(ordered) * k) // bins)] for k in range(1, bins)]


def draw_summary(problems: list[Problem], samples: list[list[GradedSample]]) -> dict:
    """What the draw says about the teacher: accuracy overall and by hardness quintile, problems with mixed
    verdicts (those make D_Pref pairs), truncations, and the mistake kinds of its wrong traces."""
    flat = [s for row in samples for s in row]
    hard = [hardness(p) for p in problems]
    edges = _bin_edges(hard, HARDNESS_BINS)
    by_bin: dict[int, list[bool]] = {k: [] for k in range(HARDNESS_BINS)}
    for h, row in zip(hard, samples, strict=True):
        by_bin[sum(h > e for e in edges)] += [s.correct for s in row]
    kinds = Counter(
        classify_mistake(p.expression, str(p.answer), THINK + s.text) or "other"
        for p, row in zip(problems, samples, strict=True)
        for s in row
        if not s.correct
    )
    n_correct = [sum(s.correct for s in row) for row in samples]
    return {
        "problems": len(problems),
        "samples": len(flat),
        "samples_correct_frac": sum(s.correct for s in flat) / max(1, len(flat)),
        "samples_truncated": sum(s.finish_reason == "length" for s in flat),
        "problems_all_correct": sum(n == len(row) for n, row in zip(n_correct, samples, strict=True)),
        "problems_none_correct": sum(n == 0 for n in n_correct),
        "problems_mixed": sum(0 < n < len(row) for n, row in zip(n_correct, samples, strict=True)),
        "accuracy_by_hardness_quintile": [sum(v) / max(1, len(v)) for v in by_bin.values()],
        "mistake_kinds": dict(kinds.most_common()),
    }
