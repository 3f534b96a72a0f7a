"""Loading benchmarks: the five real files, both local layouts, every answer form, the hub (mocked), the synthetic
split, and clear errors on bad rows."""

from __future__ import annotations

import json
import sys
import types

import pytest

from redi.config import BenchmarkConfig
from redi.eval.benchmarks import load_benchmark

COUNTS = {"math.json": 500, "aime.json": 30, "amc.json": 83, "minerva.json": 272, "olympiad_bench.json": 675}


@pytest.mark.parametrize("name,count", COUNTS.items())
def test_real_files_load_with_the_readme_counts(benchmarks_dir, name, count):
    problems = load_benchmark(name, BenchmarkConfig(path=str(benchmarks_dir / name)))
    assert len(problems) == count
    assert len({p.id for p in problems}) == count
    assert all(p.problem.strip() and p.answer and p.golds[0] == p.answer for p in problems)
    assert not any("$" in g or g != g.strip() for p in problems for g in p.golds)


def test_answer_forms_in_real_files(benchmarks_dir):
    amc = load_benchmark("amc", BenchmarkConfig(path=str(benchmarks_dir / "amc.json")))
    assert amc[0].answer == "142"  # a float 142.0 in the file
    minerva = load_benchmark("minerva", BenchmarkConfig(path=str(benchmarks_dir / "minerva.json")))
    assert sum(len(p.golds) > 1 for p in minerva) > 0  # lists of accepted forms, stripped and deduplicated
    assert minerva[0].golds == ("9.6",)
    olympiad = load_benchmark("ob", BenchmarkConfig(path=str(benchmarks_dir / "olympiad_bench.json")))
    assert "69,84" in [p.answer for p in olympiad]  # "$69$,$84$"
    math500 = load_benchmark("m", BenchmarkConfig(path=str(benchmarks_dir / "math.json"), limit=3))
    assert [p.id for p in math500] == [
        "test/precalculus/807.json",
        "test/intermediate_algebra/1994.json",
        "test/algebra/2584.json",
    ]


def test_jsonl_layout_is_the_same_problems(benchmarks_dir):
    a = load_benchmark("a", BenchmarkConfig(path=str(benchmarks_dir / "math.json")))
    b = load_benchmark("b", BenchmarkConfig(path=str(benchmarks_dir / "math500_prm800k_split.jsonl")))
    assert [(p.id, p.answer) for p in a] == [(p.id, p.answer) for p in b]


def test_answer_only_in_solution_and_numbers(tmp_path):
    rows = [
        {"problem": "p0", "solution": "so \\boxed{\\frac{1}{2}}."},
        {"problem": "p1", "answer": 7},
        {"problem": "p2", "answer": 2.5},
        {"problem": "p3", "answer": ["$3$", "3", " 4 "]},
    ]
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    problems = load_benchmark("b", BenchmarkConfig(path=str(path)))
    assert [p.golds for p in problems] == [("\\frac{1}{2}",), ("7",), ("2.5",), ("3", "4")]
    assert [p.id for p in problems] == ["0", "1", "2", "3"]


@pytest.mark.parametrize(
    "rows,match",
    [
        ([{"question": "x", "answer": "1"}], r"b\.json row 0: key 'problem'"),
        (
            [{"problem": "x", "answer": "1"}, {"problem": "y", "solution": "no box"}],
            r"row 1: no gold answer.*'solution'",
        ),
        ([{"problem": "x", "answer": {"a": 1}}], r"row 0 key 'answer': answer has type dict"),
        ([["x", "1"]], r"row 0: expected an object"),
        ([], "no problems"),
    ],
)
def test_bad_rows_name_file_row_and_key(tmp_path, rows, match):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=match):
        load_benchmark("b", BenchmarkConfig(path=str(path)))


def test_bad_files_and_settings(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_benchmark("b", BenchmarkConfig(path=str(tmp_path / "nope.json")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "a", "answer": "1"}\n{"problem": \n')
    with pytest.raises(ValueError, match=r"bad.jsonl line 2"):
        load_benchmark("b", BenchmarkConfig(path=str(bad)))
    with pytest.raises(ValueError, match=r"eval.benchmarks.b.path: required when source=local"):
        load_benchmark("b", BenchmarkConfig())
    with pytest.raises(ValueError, match=r"eval.benchmarks.b.source: 'ftp'"):
        load_benchmark("b", BenchmarkConfig(source="ftp"))


def test_hub_source_uses_datasets_load_dataset(monkeypatch):
    calls = []

    def fake_load_dataset(hub_id, config, split):
        calls.append((hub_id, config, split))
        return [{"question": "What is 1+1?", "final_answer": ["$2$"], "id": 9}]

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    cfg = BenchmarkConfig(
        source="hub",
        hub_id="Hothan/OlympiadBench",
        hub_config="OE_TO_maths_en_COMP",
        split="train",
        problem_key="question",
        answer_key="final_answer",
    )
    problems = load_benchmark("olympiadbench", cfg)
    assert calls == [("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train")]
    assert [(p.id, p.problem, p.golds) for p in problems] == [("9", "What is 1+1?", ("2",))]
    with pytest.raises(ValueError, match="needs hub_id"):
        load_benchmark("x", BenchmarkConfig(source="hub"))


def test_synthetic_source(monkeypatch):
    with pytest.raises(ValueError, match="needs the synthetic teacher's config"):
        load_benchmark("synthetic", BenchmarkConfig(source="synthetic"))
    fake = types.ModuleType("redi.data.synthetic")
    fake.heldout_problems = lambda cfg: [{"id": "h0", "problem": "3 + 4 = ?", "answer": "7"}][: cfg["n"]]
    monkeypatch.setitem(sys.modules, "redi.data.synthetic", fake)
    problems = load_benchmark("synthetic", BenchmarkConfig(source="synthetic"), synthetic={"n": 1})
    assert [(p.id, p.problem, p.answer) for p in problems] == [("h0", "3 + 4 = ?", "7")]


def test_real_synthetic_teacher_when_present():
    synthetic = pytest.importorskip("redi.data.synthetic", reason="redi.data.synthetic not written yet")
    from redi.config import SyntheticTeacherConfig

    cfg = SyntheticTeacherConfig(num_eval_problems=20)
    problems = load_benchmark("synthetic", BenchmarkConfig(source="synthetic"), synthetic=cfg)
    assert len(problems) == len(synthetic.heldout_problems(cfg)) > 0
    assert all(p.answer.lstrip("-").isdigit() for p in problems)
