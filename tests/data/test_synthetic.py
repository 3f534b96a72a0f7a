"""The synthetic teacher: arithmetic it gets right, mistakes that propagate, grader marks that agree with what the
generator knows, a held-out split sharing no problem with training, and rows the builder accepts."""

from __future__ import annotations

import collections
import re
from dataclasses import replace

import datasets
import pytest

from redi.config import BuilderConfig, DataConfig, SyntheticTeacherConfig
from redi.data.build import build_rows
from redi.data.formats.openr1 import check_rows
from redi.data.synthetic import (
    ERROR_TYPES,
    Num,
    Step,
    carry_deltas,
    classify_mistake,
    column_work,
    final_value,
    format_step,
    generate_teacher_rows,
    heldout_problems,
    magnitude_form,
    solve,
    validate_teacher_config,
)
from redi.grading.grader import extract_answer

SMALL = SyntheticTeacherConfig(num_problems=250, num_eval_problems=60, seed=7)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate_teacher_rows(SMALL)


def expr(*items) -> list:
    return [Num(t, True) if isinstance(t, int) else t for t in items]


def test_solve_follows_precedence_and_parentheses():
    steps = solve(expr(2, "+", 3, "*", 4, "-", 5))
    assert [(s.a, s.op, s.b, s.c) for s in steps] == [(3, "*", 4, 12), (2, "+", 12, 14), (14, "-", 5, 9)]
    steps = solve(expr("(", 2, "+", 3, ")", "*", 4))
    assert [(s.a, s.op, s.b, s.c) for s in steps] == [(2, "+", 3, 5), (5, "*", 4, 20)]
    assert final_value(expr(2, "+", 3, "*", 4), solve(expr(2, "+", 3, "*", 4), left_to_right=True)) == 20


def test_carry_deltas_by_hand():
    assert carry_deltas(58, "+", 67) == [-10, -100]  # 8+7 carries, 5+6+1 carries
    assert carry_deltas(12, "+", 34) == []
    assert carry_deltas(52, "-", 17) == [10]  # borrow in the units: forgetting it gives 45
    assert carry_deltas(17, "-", 52) == [-10]  # -35 becomes -45
    assert carry_deltas(7, "*", 38) == [
        -50,
        -200,
    ]  # 7*8 = 56 carries 5; 7*3+5 = 26 carries 2 (the final carry)


def test_column_work_by_hand():
    assert column_work(58, "+", 67) == (["8+7=15", "5+6+1=12"], 125)
    assert column_work(52, "-", 17) == (["12-7=5", "5-1-1=3"], 35)
    assert column_work(105, "-", 98) == (["15-8=7", "10-1-9=0", "1-1-0=0"], 7)
    assert column_work(38, "*", 7) == column_work(7, "*", 38) == (["8*7=56", "3*7+5=26"], 266)
    assert column_work(58, "+", 67, drop=0) == (["8+7=15", "5+6=11"], 115)  # the units' carry forgotten
    assert column_work(58, "+", 67, drop=1) == (["8+7=15", "5+6+1=12"], 25)  # the final carry forgotten
    assert column_work(38, "*", 7, drop=0) == (["8*7=56", "3*7=21"], 216)
    assert column_work(23, "*", 45) is None  # two multi-digit factors: written without work


def test_column_work_agrees_with_python_on_every_small_case():
    for a in range(-130, 330, 7):
        for b in range(-60, 330, 11):
            for op in "+-*":
                x, mop, y, sign = magnitude_form(a, op, b)
                work = column_work(x, mop, y)
                if work is None:
                    assert op == "*" and min(abs(a), abs(b)) >= 10
                    continue
                assert sign * work[1] == (a + b if op == "+" else a - b if op == "-" else a * b), (a, op, b)


def test_format_step_shows_the_magnitudes_when_they_differ():
    assert format_step(Step(58, "+", 67, 125, ())) == "58 + 67 [8+7=15 5+6+1=12] = 125"
    assert format_step(Step(19, "-", 24, -5, ())) == "19 - 24 [24-19: 14-9=5 2-1-1=0] = -5"
    assert format_step(Step(-45, "+", 36, -9, ())) == "-45 + 36 [45-36: 15-6=9 4-1-3=0] = -9"
    assert format_step(Step(7, "-", -3, 10, ())) == "7 - (-3) [7+3: 7+3=10] = 10"
    assert format_step(Step(58, "+", 67, 115, (), dropped_carry=0)) == "58 + 67 [8+7=15 5+6=11] = 115"


def test_a_misread_operand_propagates_to_the_answer():
    steps = solve(expr(4, "*", 18, "+", 11), misread=(1, 0, 42))  # 72 copied as 42
    assert [(s.a, s.op, s.b, s.c) for s in steps] == [(4, "*", 18, 72), (42, "+", 11, 53)]


def test_a_corrupted_step_propagates_to_the_answer():
    tokens = expr(58, "+", 67, "-", 20)
    steps = solve(tokens, corrupt=(0, lambda a, op, b, c: c - 100))
    assert [s.c for s in steps] == [25, 5]


def test_schema_and_shape(rows):
    assert len(rows) == 250
    ds = datasets.Dataset.from_list(rows)
    check_rows(ds.data.table, "synthetic", ["problem", "answer", "generations", "correctness_math_verify",
                                       "correctness_llama", "error_types", "is_reasoning_complete"])  # fmt: skip
    counts = collections.Counter(len(r["generations"]) for r in rows)
    assert set(counts) == {2, 3, 4}
    for r in rows:
        assert r["problem_is_valid"] == "yes" and re.fullmatch(r"-?\d+", r["answer"])
        assert r["correctness_llama"] == r["correctness_math_verify"]
        for g, complete, reason in zip(
            r["generations"], r["is_reasoning_complete"], r["finish_reasons"], strict=True
        ):
            assert g.startswith("<think>\n")
            assert complete == ("</think>" in g) and reason == ("stop" if complete else "length")


def test_grader_marks_agree_with_the_generator(rows):
    seen = collections.Counter()
    for r in rows:
        for g, ok, err in zip(r["generations"], r["correctness_math_verify"], r["error_types"], strict=True):
            seen[err] += 1
            boxed = extract_answer(g)
            assert ok == (err is None), (g, err)
            assert ok == (boxed == r["answer"]), (g, r["answer"])
            if err in ("stop_early", "truncated"):
                assert boxed is None
            elif err is not None:  # an arithmetic mistake carried through to a wrong boxed number
                assert boxed is not None and boxed != r["answer"]
    assert set(ERROR_TYPES) <= set(seen)
    share_wrong = 1 - seen[None] / sum(seen.values())
    assert 0.2 < share_wrong < 0.5  # error_rate 0.35 on average


def test_correct_traces_have_correct_steps(rows):
    step = re.compile(r"(-?\d+) ([+\-*]) \(?(-?\d+)\)? = (-?\d+)")
    for r in rows[:100]:
        for g, err in zip(r["generations"], r["error_types"], strict=True):
            if err is None:
                for a, op, b, c in step.findall(g):
                    a, b, c = int(a), int(b), int(c)
                    assert c == (a + b if op == "+" else a - b if op == "-" else a * b), g


def test_errors_fall_more_on_hard_problems(rows):
    def n_terms(r):
        return len(re.findall(r"\d+", r["expression"]))

    wrong = collections.defaultdict(list)
    for r in rows:
        wrong[n_terms(r) <= 2].extend(e is not None for e in r["error_types"])
    assert sum(wrong[False]) / len(wrong[False]) > 1.3 * sum(wrong[True]) / len(wrong[True])


def test_heldout_is_deterministic_and_seeded():
    assert heldout_problems(SMALL) == heldout_problems(SMALL)
    assert heldout_problems(replace(SMALL, seed=8)) != heldout_problems(SMALL)


def test_same_config_gives_identical_rows(rows):
    assert generate_teacher_rows(SMALL) == rows


def test_heldout_shares_no_problem_with_training(rows):
    held = heldout_problems(SMALL)
    assert len(held) == 60 and len({h["problem"] for h in held}) == 60
    assert set(held[0]) >= {"id", "problem", "answer"}
    assert not {h["problem"] for h in held} & {r["problem"] for r in rows}
    assert not {h["expression"] for h in held} & {r["expression"] for r in rows}
    bigger = heldout_problems(replace(SMALL, num_problems=5000))
    assert bigger == held  # the split does not depend on the training size
    assert all(re.fullmatch(r"-?\d+", h["answer"]) for h in held)


def test_builder_makes_sft_and_pairs_from_teacher_rows(rows):
    cfg = DataConfig(source="synthetic", synthetic=SMALL, builder=BuilderConfig(decontaminate=False))
    built = build_rows(cfg, lambda ts: [len(t) for t in ts], None, table=datasets.Dataset.from_list(rows))
    with_correct = sum(any(r["correctness_math_verify"]) for r in rows)
    with_both = sum(any(r["correctness_math_verify"]) and not all(r["correctness_math_verify"]) for r in rows)
    assert built.funnel["sft_rows"] == with_correct and built.funnel["pair_rows"] == with_both
    assert 0.5 * len(rows) < with_both < with_correct < len(rows)
    for r in built.pairs:
        assert extract_answer(r["chosen"]) == r["answer"] != extract_answer(r["rejected"])


def test_only_weighted_error_types_occur():
    cfg = replace(
        SMALL, num_problems=40, error_rate=0.6, error_types={"wrong_precedence": 1.0, "sign_slip": 0.0}
    )
    rows = generate_teacher_rows(cfg)
    assert {e for r in rows for e in r["error_types"]} == {None, "wrong_precedence"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"difficulty": 1.5}, r"data.synthetic.difficulty must be in \[0, 1\]"),
        ({"min_traces": 3, "max_traces": 2}, "min_traces <= max_traces"),
        ({"error_types": {"typo": 1.0}}, r"unknown type\(s\) \['typo'\]"),
        ({"num_problems": 0}, "num_problems must be >= 1"),
    ],
)
def test_bad_teacher_settings_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        validate_teacher_config(replace(SMALL, **change))


def test_classify_mistake_recovers_every_injected_error(rows):
    for r in rows:
        for g, err in zip(r["generations"], r["error_types"], strict=True):
            assert classify_mistake(r["expression"], r["answer"], g) == err, (g, err)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("23 + 7 * 4 - 5\n7 * 4 = 28\n23 + 28 = 51\n51 - 5 = 46\n</think>\nThe answer is \\boxed{46}.", None),
        ("23 + 7 * 4 - 5\n7 * 4 = 28\n23 + 28 = 51\n51 - 5 = 46\n</think>\nThe answer is \\boxed{45}.", "final_copy"),
        ("23 + 7 * 4 - 5\n7 * 4 = 27\n23 + 27 = 50\n50 - 5 = 45\n</think>\nThe answer is \\boxed{45}.",
         "arithmetic_other"),
        ("23 + 7 * 5 - 5\n7 * 5 = 35\n23 + 35 = 58\n58 - 5 = 53\n</think>\nThe answer is \\boxed{53}.",
         "misread_problem"),
        ("23 + 7 * 4 - 5\n23 + 7 = 30\n30 * 4 = 120\n120 - 5 = 115\n</think>\nThe answer is \\boxed{115}.",
         "wrong_precedence"),
        ("23 + 7 * 4 - 5\n7 * 4 = 28\n23 + 28 = 51\n</think>\nThe answer is \\boxed{51}.", "dropped_term"),
        ("23 + 7 * 4 - 5\n7 * 4 = 28\n23 + 28 = 51", "truncated"),
        ("23 + 7 * 4 - 5\n7 * 4 [7*4=28] = 28\n23 + 28 [3+8=11 2+2=4] = 41\n41 - 5 [11-5=6 4-1-0=3] = 36\n"
         "</think>\nThe answer is \\boxed{36}.", "dropped_carry"),
        ("23 + 7 * 4 - 5\n7 * 4 [7*4=28] = 28\n23 + 29 [3+9=12 2+2+1=5] = 52\n52 - 5 [12-5=7 5-1-0=4] = 47\n"
         "</think>\nThe answer is \\boxed{47}.", "copy_slip"),
        ("23 + 7 * 4 - 5\n7 * 4 [7*4=28] = 28\n23 + 28 [3+8=11 2+2+1=5] = 51\n51 - 5 [11-5=6 5-1-0=4] = 46\n"
         "</think>\nThe answer is \\boxed{46}.", None),
    ],
)  # fmt: skip
def test_classify_mistake_reads_student_like_traces(text, kind):
    assert classify_mistake("23 + 7 * 4 - 5", "46", text) == kind


def test_stats_report_counts(rows):
    from redi.data.stats import format_report, teacher_stats

    stats = teacher_stats(rows, lambda texts: [len(t.split()) for t in texts])
    assert stats["problems"] == 250 and stats["traces"] == sum(len(r["generations"]) for r in rows)
    assert sum(stats["error_types"].values()) == stats["traces"]
    assert stats["error_types"]["none"] == round(stats["share_correct"] * stats["traces"])
    assert sum(stats["problems_by_verdicts"].values()) == 250
    assert stats["tokens_correct"]["max"] >= stats["tokens_correct"]["p90"] >= stats["tokens_correct"]["p10"]
    assert "dropped_carry" in format_report(stats, {"sft_rows": 1}, 60)
