"""End to end: a tiny model evaluated on a small benchmark file writes per-sample records and metrics; the metrics
of a crafted run (scripted generations) match pass@1 and its SEM worked out by hand."""

from __future__ import annotations

import json
import math

import pytest
import torch

import redi.eval.evaluate as ev
from redi.config import BenchmarkConfig, EvalConfig
from redi.model.engines import Generation


@pytest.fixture()
def bench_file(tmp_path):
    rows = [
        {"problem": "What is 12 + 30?", "answer": "42"},
        {"problem": "What is 2 + 2?", "answer": 4.0},
        {"problem": "Half of one?", "solution": "It is \\boxed{\\frac{1}{2}}."},
    ]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(rows))
    return path


def test_tiny_model_end_to_end(tiny, bench_file, tmp_path):
    model, tokenizer = tiny
    cfg = EvalConfig(
        benchmarks={"tiny": BenchmarkConfig(path=str(bench_file))},
        num_samples=2,
        max_new_tokens=6,
        batch_size=4,
        pass_at_k=[1, 2],
        prompt_template="open_r1",
        progress_bar=False,
    )
    state = torch.get_rng_state()
    metrics = ev.evaluate(model, tokenizer, cfg, step=3, run_dir=tmp_path)
    assert torch.equal(torch.get_rng_state(), state)
    assert set(metrics) == {
        f"eval/tiny/{m}"
        for m in ("pass@1", "pass@1_sem", "pass@2", "mean_length", "truncated_frac", "timeouts")
    }
    records = [json.loads(line) for line in (tmp_path / "eval" / "step_3.jsonl").open()]
    assert len(records) == 6
    assert [(r["prompt_id"], r["sample_index"]) for r in records] == [
        (str(i), j) for i in range(3) for j in range(2)
    ]
    assert [r["gold"] for r in records[::2]] == ["42", "4", "\\frac{1}{2}"]
    assert set(records[0]) == {
        "step",
        "benchmark",
        "prompt_id",
        "sample_index",
        "gold",
        "text",
        "extracted",
        "correct",
        "timed_out",
        "num_tokens",
        "finish_reason",
    }
    assert metrics["eval/tiny/mean_length"] == pytest.approx(sum(r["num_tokens"] for r in records) / 6)
    assert metrics["eval/tiny/truncated_frac"] == pytest.approx(
        sum(r["finish_reason"] == "length" for r in records) / 6
    )
    assert metrics["eval/tiny/pass@1"] == pytest.approx(sum(r["correct"] for r in records) / 6)
    assert not list((tmp_path / "eval").glob(".*tmp*"))  # the atomic write left no temporary file


class _ScriptedEngine:
    """Returns crafted responses: problem i, sample j answers ANSWERS[i][j]."""

    def __init__(self, answers):
        self.answers = answers

    def generate(self, prompts, num_samples, seed):
        assert "Think step by step before answering.\n\n" in prompts[0]  # the Open-R1 user turn
        return [
            [
                Generation(f"<think>ok</think> so \\boxed{{{a}}}", 5 + j, "length" if j == 2 else "stop")
                for j, a in enumerate(row)
            ]
            for row in self.answers[: len(prompts)]
        ]


def test_crafted_run_pass_at_1_and_sem_by_hand(tiny, bench_file, tmp_path, monkeypatch):
    # golds 42, 4, 1/2; correctness per sample index j = 0, 1, 2:
    #   problem 0: 42 ok, 41 no, 42 ok      -> 1 0 1
    #   problem 1: 4 ok, 4.0 ok, 5 no       -> 1 1 0
    #   problem 2: 0.5 ok, 2/4 ok, 1 no     -> 1 1 0
    # per-index scores 3/3, 2/3, 1/3 -> pass@1 = 6/9 = 2/3; std (ddof 0) = sqrt(((1/3)^2 + 0 + (1/3)^2)/3) = sqrt(2/27)
    # SEM = sqrt(2/27)/sqrt(3) = 0.157135...
    answers = [["42", "41", "42"], ["4", "4.0", "5"], ["0.5", "\\frac{2}{4}", "1"]]
    monkeypatch.setattr(ev, "make_engine", lambda cfg, model, tok, path: _ScriptedEngine(answers))
    cfg = EvalConfig(
        benchmarks={"tiny": BenchmarkConfig(path=str(bench_file))},
        num_samples=3,
        pass_at_k=[1, 3],
        prompt_template="open_r1",
        progress_bar=False,
    )
    m = ev.evaluate(*tiny, cfg, step=0, run_dir=tmp_path)
    assert m["eval/tiny/pass@1"] == pytest.approx(2 / 3)
    assert m["eval/tiny/pass@1_sem"] == pytest.approx(math.sqrt(2 / 27) / math.sqrt(3))
    assert m["eval/tiny/pass@3"] == pytest.approx(1.0)
    assert m["eval/tiny/mean_length"] == pytest.approx(6.0)
    assert m["eval/tiny/truncated_frac"] == pytest.approx(1 / 3)
    assert m["eval/tiny/timeouts"] == 0
    records = [json.loads(line) for line in (tmp_path / "eval" / "step_0.jsonl").open()]
    assert [r["correct"] for r in records] == [True, False, True, True, True, False, True, True, False]
    assert records[7]["extracted"] == "\\frac{2}{4}"


@pytest.mark.parametrize(
    "change,match",
    [
        ({"engine": "tgi"}, "eval.engine"),
        ({"benchmarks": {}}, "eval.benchmarks is empty"),
        ({"pass_at_k": [8]}, "eval.pass_at_k: 8"),
        ({"top_p": 0.0}, "eval.top_p"),
        ({"prompt_template": "Answer \\boxed{} {problem}"}, "eval.prompt_template"),
        ({"prompt_template": "no slot"}, "no {problem} slot"),
    ],
)
def test_bad_config_fails_before_any_work(tiny, bench_file, change, match, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("nothing may load before validation")

    monkeypatch.setattr(ev, "load_benchmark", boom)
    kwargs = {"benchmarks": {"tiny": BenchmarkConfig(path=str(bench_file))}, "num_samples": 4, **change}
    with pytest.raises(ValueError, match=match):
        ev.evaluate(*tiny, EvalConfig(**kwargs), step=0, run_dir=None)


def test_open_r1_prompt_text():
    text = ev.resolve_prompt_template("open_r1").format(problem="What is 1+1?")
    assert text.startswith("Solve the following math problem efficiently and clearly.  The last line")
    assert "$\\boxed{ANSWER}$" in text and text.endswith(
        "Think step by step before answering.\n\nWhat is 1+1?"
    )


def test_curve_points_use_curve_limit_and_the_final_evaluation_the_benchmark_limit(
    tiny, bench_file, tmp_path
):
    """A curve point (final=False) scores the first eval.curve_limit problems; the final one all of them."""
    model, tokenizer = tiny
    cfg = EvalConfig(
        benchmarks={"tiny": BenchmarkConfig(path=str(bench_file))},
        num_samples=1,
        max_new_tokens=4,
        curve_limit=2,
        progress_bar=False,
    )
    ev.evaluate(model, tokenizer, cfg, step=5, run_dir=tmp_path, final=False)
    ev.evaluate(model, tokenizer, cfg, step=9, run_dir=tmp_path, final=True)
    curve = [json.loads(line)["prompt_id"] for line in (tmp_path / "eval" / "step_5.jsonl").open()]
    final = [json.loads(line)["prompt_id"] for line in (tmp_path / "eval" / "step_9.jsonl").open()]
    assert curve == ["0", "1"]
    assert final == ["0", "1", "2"]


def test_the_final_evaluation_also_scores_the_curve_subset_under_the_curve_keys(bench_file, monkeypatch):
    """Curve points log eval/<b>/curve/* only; the final logs eval/<b>/* on all 3 problems and eval/<b>/curve/* on
    the same first 2 the curve points scored, from the same samples (scripted: problem 0 right, 1 and 2 wrong
    on the first sample, all right on the second)."""

    def script(prompts, k, seed):
        return [
            [Generation(text=f"\\boxed{{{ans}}}", num_tokens=10 + i, finish_reason="stop") for ans in answers]
            for i, answers in enumerate([("42", "42"), ("5", "4"), ("0", "\\frac{1}{2}")][: len(prompts)])
        ]

    class Engine:
        generate = staticmethod(script)

    monkeypatch.setattr(ev, "make_engine", lambda *a, **k: Engine())
    monkeypatch.setattr(
        ev, "format_prompts", lambda tokenizer, problems, template: [p.problem for p in problems]
    )
    cfg = EvalConfig(
        benchmarks={"tiny": BenchmarkConfig(path=str(bench_file))},
        num_samples=2,
        curve_limit=2,
        progress_bar=False,
    )
    point = ev.evaluate(None, None, cfg, step=4, run_dir=None, final=False)
    assert not any(k.startswith("eval/tiny/pass") for k in point)  # no all-problems key on a curve point
    assert point["eval/tiny/curve/pass@1"] == pytest.approx(3 / 4)  # problem 0: 2/2, problem 1: 1/2
    assert point["eval/tiny/curve/problems"] == 2
    final = ev.evaluate(None, None, cfg, step=8, run_dir=None, final=True)
    assert final["eval/tiny/pass@1"] == pytest.approx(4 / 6)  # + problem 2: 1/2
    assert final["eval/tiny/mean_length"] == pytest.approx(11.0)  # lengths 10, 10, 11, 11, 12, 12
    assert {k: v for k, v in final.items() if "/curve/" in k} == pytest.approx(point)
