"""The shortcut task: shortcut steps are written without column work, fail far more often than column work, keep
their correct shortcuts in correct traces, and the reader recovers every injected mistake."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from redi.config import BuilderConfig, DataConfig, SyntheticTeacherConfig
from redi.data.build import build_rows
from redi.data.synthetic import (
    Num,
    Problem,
    classify_mistake,
    generate_teacher_rows,
    has_column_work,
    make_shortcut_traces,
    shortcut_counts,
    validate_teacher_config,
    wrong_shortcut_values,
)
from redi.grading.grader import extract_answer

SHORTCUT = SyntheticTeacherConfig(
    num_problems=300, num_eval_problems=20, seed=5, task="shortcut", error_rate=0.1
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate_teacher_rows(SHORTCUT)


def test_wrong_shortcut_values_by_hand():
    # 58 + 67 = 125: a forgotten carry gives 115 or 25; a slipped fact 8+7=14/16 or 5+6+1=11/13
    assert wrong_shortcut_values(58, "+", 67) == sorted({115, 25, 124, 126, 135})
    assert wrong_shortcut_values(12, "+", 34) == [36, 45, 47, 56]  # no carry: slipped facts only
    assert has_column_work(38, "*", 7) and not has_column_work(23, "*", 45)


def test_shortcut_steps_are_written_without_work():
    problem = Problem((Num(58, True), "+", Num(67, True)), "Compute 58 + 67.", "arithmetic")
    always = replace(SHORTCUT, shortcut_rate=1.0, shortcut_error_rate=0.0, error_rate=0.0)
    (trace,) = make_shortcut_traces(problem, 1, 0.0, always, random.Random(0))
    assert "58 + 67 = 125" in trace.text and "[" not in trace.text and trace.error is None
    assert shortcut_counts(trace.text) == (1, 1)
    never = replace(always, shortcut_rate=0.0)
    (trace,) = make_shortcut_traces(problem, 1, 0.0, never, random.Random(0))
    assert "58 + 67 [8+7=15 5+6+1=12] = 125" in trace.text and shortcut_counts(trace.text) == (0, 1)
    failing = replace(always, shortcut_error_rate=1.0)
    (trace,) = make_shortcut_traces(problem, 1, 0.0, failing, random.Random(0))
    assert trace.error == "shortcut_slip" and extract_answer(trace.text) != "125"


def test_marks_agree_and_every_mistake_is_recovered(rows):
    kinds = set()
    for r in rows:
        for g, ok, err in zip(r["generations"], r["correctness_math_verify"], r["error_types"], strict=True):
            assert ok == (err is None) == (extract_answer(g) == r["answer"]), (g, err)
            assert classify_mistake(r["expression"], r["answer"], g, task="shortcut") == err, (g, err)
            kinds.add(err)
    assert {None, "shortcut_slip", "column_slip"} <= kinds


def test_shortcuts_fail_far_more_often_and_correct_traces_keep_theirs(rows):
    sc = {True: [0, 0], False: [0, 0]}
    wrong_by_kind = {"shortcut_slip": 0, "other": 0}
    for r in rows:
        for g, ok, err in zip(r["generations"], r["correctness_math_verify"], r["error_types"], strict=True):
            s, e = shortcut_counts(g)
            sc[ok][0] += s
            sc[ok][1] += e
            if err is not None:
                wrong_by_kind["shortcut_slip" if err == "shortcut_slip" else "other"] += 1
    rate_ok, rate_wrong = sc[True][0] / sc[True][1], sc[False][0] / sc[False][1]
    # a step shortcuts with p 0.3 and then fails with p 0.6: correct traces keep 0.3 * 0.4 / (0.3 * 0.4 + 0.7)
    assert 0.09 < rate_ok < 0.2 and rate_wrong > 2.5 * rate_ok
    assert wrong_by_kind["shortcut_slip"] > 2 * wrong_by_kind["other"]  # most negatives are failed shortcuts


def test_builder_pairs_have_the_shortcut_in_the_rejected(rows):
    import datasets

    cfg = DataConfig(source="synthetic", synthetic=SHORTCUT, builder=BuilderConfig(decontaminate=False))
    built = build_rows(cfg, lambda ts: [len(t) for t in ts], None, table=datasets.Dataset.from_list(rows))
    chosen = sum(shortcut_counts(t)[0] for t in built.pairs["chosen"])
    rejected = sum(shortcut_counts(t)[0] for t in built.pairs["rejected"])
    assert len(built.pairs) > 100 and rejected > 2.5 * chosen


def test_bad_task_settings_are_named():
    with pytest.raises(ValueError, match=r"data.synthetic.task: unknown task 'shortcuts'"):
        validate_teacher_config(replace(SHORTCUT, task="shortcuts"))
    with pytest.raises(ValueError, match=r"data.synthetic.shortcut_rate must be in \[0, 1\], got 1.5"):
        validate_teacher_config(replace(SHORTCUT, shortcut_rate=1.5))


def test_swap_pairs_inverts_the_labels(rows):
    import datasets

    ds = datasets.Dataset.from_list(rows)
    cfg = DataConfig(source="synthetic", synthetic=SHORTCUT, builder=BuilderConfig(decontaminate=False))
    plain = build_rows(cfg, lambda ts: [len(t) for t in ts], None, table=ds).pairs
    cfg.builder.swap_pairs = True
    swapped = build_rows(cfg, lambda ts: [len(t) for t in ts], None, table=ds).pairs
    assert swapped["chosen"] == plain["rejected"] and swapped["rejected"] == plain["chosen"]
    assert all(extract_answer(t) != a for t, a in zip(swapped["chosen"], swapped["answer"], strict=True))
