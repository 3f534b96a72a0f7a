"""The model teacher stage: cached per teacher and per draw, its traces readable by the data path."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from redi.diagnose import compose_config
from redi.infra.distributed import DistEnv
from redi.stages import stage1, teacher, training
from redi.stages.stage1 import stage1_dir


def stage1_model(cfg, env):
    """What the entry point hands the teacher: the cached stage-1 run directory, trained when absent."""
    return stage1.ensure(cfg, env, training.run)


TINY_TEACHER = [
    "experiment=smoke",
    "data.synthetic.teacher=model",
    "data.synthetic.num_problems=40",
    "data.synthetic.num_eval_problems=8",
    "data.synthetic.model_teacher.train_problems=64",
    "data.synthetic.model_teacher.arch.hidden_size=32",
    "data.synthetic.model_teacher.arch.num_hidden_layers=1",
    "data.synthetic.model_teacher.arch.num_attention_heads=2",
    "data.synthetic.model_teacher.arch.num_key_value_heads=1",
    "data.synthetic.model_teacher.arch.intermediate_size=64",
    "data.synthetic.model_teacher.num_samples=2",
    "data.synthetic.model_teacher.max_new_tokens=24",
]


def test_the_teacher_model_is_keyed_by_its_training_not_by_the_draw():
    base = compose_config(TINY_TEACHER)
    other_draw = compose_config([*TINY_TEACHER, "data.synthetic.model_teacher.draw=3",
                                 "data.synthetic.model_teacher.temperature=0.7"])  # fmt: skip
    bigger = compose_config([*TINY_TEACHER, "data.synthetic.model_teacher.arch.hidden_size=64"])
    other_truth = compose_config([*TINY_TEACHER, "data.synthetic.model_teacher.train_seed=1"])
    key = stage1_dir(teacher.teacher_training_config(base))
    assert stage1_dir(teacher.teacher_training_config(other_draw)) == key
    assert stage1_dir(teacher.teacher_training_config(bigger)) != key
    assert stage1_dir(teacher.teacher_training_config(other_truth)) != key
    t = teacher.teacher_training_config(base)
    assert t.data.synthetic.error_rate == 0.0 and t.data.synthetic.teacher == "rules"
    assert t.data.synthetic.num_problems == 64 and t.model.arch.hidden_size == 32


def test_ensure_samples_once_and_points_the_data_at_the_traces(tmp_path, monkeypatch):
    monkeypatch.setenv("REDI_CACHE_DIR", str(tmp_path / "cache"))
    cfg = compose_config(TINY_TEACHER)
    teacher.ensure(cfg, DistEnv(), stage1_model)
    traces = Path(cfg.data.synthetic.model_teacher.traces)
    rows = datasets.Dataset.from_json(str(traces))
    assert len(rows) == 40 and all(len(g) == 2 for g in rows["generations"])
    summary = json.loads((traces.parent / "summary.json").read_text())
    assert summary["samples"] == 80 and summary["heldout"]["samples"] == 16
    assert (
        summary["problems_all_correct"] + summary["problems_mixed"] + summary["problems_none_correct"] == 40
    )
    stamp = traces.stat().st_mtime_ns
    again = compose_config(TINY_TEACHER)
    teacher.ensure(again, DistEnv(), stage1_model)  # cached: the same file, not sampled again
    assert again.data.synthetic.model_teacher.traces == str(traces) and traces.stat().st_mtime_ns == stamp
    redraw = compose_config([*TINY_TEACHER, "data.synthetic.model_teacher.draw=1"])
    teacher.ensure(redraw, DistEnv(), stage1_model)
    assert redraw.data.synthetic.model_teacher.traces != str(traces)


def test_model_teacher_settings_do_not_key_a_rules_teacher_stage1():
    rules = compose_config(["experiment=smoke"])
    other = compose_config(["experiment=smoke", "data.synthetic.model_teacher.epochs=9"])
    assert stage1_dir(rules) == stage1_dir(other)


def test_a_draw_that_fails_after_sampling_resumes_without_sampling_again(tmp_path, monkeypatch):
    import pytest

    import redi.data.synthetic.model_teacher as rows_module

    monkeypatch.setenv("REDI_CACHE_DIR", str(tmp_path / "cache"))
    overrides = [*TINY_TEACHER, "data.synthetic.model_teacher.draw=5"]
    calls = []
    real_sample, real_rows = teacher._sample, rows_module.teacher_rows
    monkeypatch.setattr(teacher, "_sample", lambda *a, **k: calls.append(1) or real_sample(*a, **k))

    def classifier_bug(*args, **kwargs):
        raise RuntimeError("a classifier bug after sampling")

    monkeypatch.setattr(rows_module, "teacher_rows", classifier_bug)
    with pytest.raises(RuntimeError, match="classifier bug"):
        teacher.ensure(compose_config(overrides), DistEnv(), stage1_model)
    assert len(calls) == 1  # the training problems were sampled (and saved) before the failure
    monkeypatch.setattr(rows_module, "teacher_rows", real_rows)
    cfg = compose_config(overrides)
    teacher.ensure(cfg, DistEnv(), stage1_model)
    assert len(calls) == 2  # only the held-out problems are sampled on the second try
    assert len(datasets.Dataset.from_json(cfg.data.synthetic.model_teacher.traces)) == 40
