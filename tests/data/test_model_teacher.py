"""The model teacher's rows and draw summary (redi.data.synthetic.model_teacher), on traces whose verdicts are known."""

from __future__ import annotations

import random

import pytest

from redi.config import GraderConfig, ModelTeacherConfig, SyntheticTeacherConfig
from redi.data.build import build_rows
from redi.data.synthetic import make_traces
from redi.data.synthetic.model_teacher import THINK, GradedSample, draw_summary, teacher_rows
from redi.data.synthetic.teacher import teacher_config, training_problems, validate_teacher_config

CFG = SyntheticTeacherConfig(num_problems=3, seed=5, teacher="model")


def _trace(problem, error: str | None) -> str:
    """A rules-teacher trace of ``problem`` as the model would sample it (after the prompt's <think>)."""
    rng = random.Random(0)
    for _ in range(200):
        cfg = SyntheticTeacherConfig(error_types={error: 1.0} if error else {"column_slip": 1.0})
        trace = make_traces(problem, 1, 1.0 if error else 0.0, cfg, rng)[0]
        if trace.error == error:
            return trace.text.removeprefix(THINK)
    pytest.skip(f"no {error} trace for {problem.expression}")


def test_rows_carry_the_samples_verdicts_and_the_mistake_kind_of_each_wrong_trace():
    problems = training_problems(CFG)
    good, bad = _trace(problems[0], None), _trace(problems[0], "stop_early")
    samples = [
        [GradedSample(good, True, "stop"), GradedSample(bad, False, "stop")],
        [GradedSample(_trace(problems[1], None), True, "stop")] * 2,
        [GradedSample("12 + ", False, "length")] * 2,
    ]
    rows = teacher_rows(CFG, problems, samples)
    assert [len(r["generations"]) for r in rows] == [2, 2, 2]
    assert all(g.startswith(THINK) for r in rows for g in r["generations"])
    assert rows[0]["correctness_math_verify"] == rows[0]["correctness_llama"] == [True, False]
    assert rows[0]["error_types"] == [None, "stop_early"]
    assert rows[2]["error_types"] == ["truncated", "truncated"]
    assert rows[2]["finish_reasons"] == ["length", "length"] and rows[2]["is_reasoning_complete"] == [
        False,
        False,
    ]
    assert [r["answer"] for r in rows] == [str(p.answer) for p in problems]


def test_the_papers_rules_turn_the_rows_into_d_sft_and_d_pref():
    problems = training_problems(CFG)
    samples = [
        [GradedSample("wrong", False, "stop"), GradedSample(_trace(problems[0], None), True, "stop")],
        [GradedSample(_trace(problems[1], None), True, "stop")] * 2,
        [GradedSample("x", False, "stop")] * 2,
    ]
    import datasets
    from omegaconf import OmegaConf

    from redi.config import DataConfig

    data = OmegaConf.structured(DataConfig(synthetic=CFG))
    data.builder.shuffle_seed = 0
    data.builder.decontaminate = False
    built = build_rows(
        data, None, None, table=datasets.Dataset.from_list(teacher_rows(CFG, problems, samples))
    )
    assert len(built.sft) == 2 and len(built.pairs) == 1  # problems 0 and 1 have a correct trace; 0 is mixed
    pair = built.pairs[0]
    assert pair["rejected"] == THINK + "wrong" and pair["chosen"].startswith(THINK)


def test_draw_summary_counts_by_hand():
    problems = training_problems(SyntheticTeacherConfig(num_problems=3, seed=5))
    samples = [
        [GradedSample("a", True, "stop")] * 2,
        [GradedSample("a", True, "stop"), GradedSample("b", False, "length")],
        [GradedSample("c", False, "stop")] * 2,
    ]
    s = draw_summary(problems, samples)
    assert s["samples"] == 6 and s["samples_correct_frac"] == pytest.approx(0.5)
    assert (s["problems_all_correct"], s["problems_mixed"], s["problems_none_correct"]) == (1, 1, 1)
    assert s["samples_truncated"] == 1
    assert sum(s["mistake_kinds"].values()) == 3


def test_teacher_config_from_plain_values_and_its_checks():
    values = {"teacher": "model", "model_teacher": {"num_samples": 0, "arch": {"hidden_size": 64}}}
    cfg = teacher_config(values)
    assert isinstance(cfg.model_teacher, ModelTeacherConfig) and cfg.model_teacher.arch.hidden_size == 64
    with pytest.raises(ValueError, match=r"data\.synthetic\.model_teacher\.num_samples must be >= 1, got 0"):
        validate_teacher_config(cfg)
    with pytest.raises(ValueError, match=r"data\.synthetic\.teacher: unknown teacher 'llm'"):
        validate_teacher_config(teacher_config({"teacher": "llm"}))
    bad_arch = teacher_config({"teacher": "model", "model_teacher": {"arch": {"num_attention_heads": 3}}})
    with pytest.raises(ValueError, match=r"model_teacher\.arch: hidden_size must be a multiple"):
        validate_teacher_config(bad_arch)
    assert GraderConfig()  # the grader the stage uses exists with defaults


def test_a_sampled_fact_with_a_leading_zero_is_read_not_evaluated():
    from redi.data.synthetic.classify import _has_wrong_fact, _value

    assert _value("6-1-02") == 3 and _value("6*4+2") == 26 and _value("5+6+1") == 12 and _value("2-1-1") == 0
    assert _has_wrong_fact("6-1-02=4") and not _has_wrong_fact("6-1-02=3")
