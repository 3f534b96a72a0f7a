"""Loading teacher traces: local files, the hub path (hub mocked, real files), column maps, and bad data errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import datasets
import pytest

from redi.config import BuilderConfig, DataConfig
from redi.data import sources
from redi.data.build import load_rows as load_traces
from redi.data.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "openr1_hand.jsonl"


def good_row(i: int) -> dict:
    return {
        "uuid": f"u{i}",
        "problem": f"What is {i} + 1?",
        "answer": str(i + 1),
        "generations": [f"<think> {i + 1} </think> \\boxed{{{i + 1}}}", "<think> 0 </think> \\boxed{0}"],
        "correctness_math_verify": [True, False],
        "correctness_llama": [True, False],
        "is_reasoning_complete": [True, True],
        "finish_reasons": ["stop", "stop"],
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def local(path: Path, **kw) -> DataConfig:
    return DataConfig(source="local", path=str(path), **kw)


def test_local_jsonl_and_parquet_load_the_same_rows(tmp_path):
    from_jsonl = load_traces(local(FIXTURE))
    assert len(from_jsonl) == 20 and from_jsonl[7]["correctness_llama"] is None
    parquet = tmp_path / "traces.parquet"
    from_jsonl.to_parquet(str(parquet))
    from_parquet = load_traces(local(parquet))
    assert from_parquet.to_list() == from_jsonl.to_list()


def test_json_array_file_loads(tmp_path):
    path = tmp_path / "traces.json"
    path.write_text(json.dumps([good_row(i) for i in range(3)]))
    assert load_traces(local(path))["uuid"] == ["u0", "u1", "u2"]


def test_hub_source_calls_load_dataset_with_id_config_split(tmp_path, monkeypatch):
    parquet = tmp_path / "hub.parquet"
    datasets.Dataset.from_list([good_row(i) for i in range(4)]).to_parquet(str(parquet))
    real = datasets.load_dataset
    calls = []

    def fake_hub(path, name=None, **kwargs):  # only the hub is mocked: the rows come from a real parquet file
        calls.append((path, name, kwargs))
        return real("parquet", data_files=str(parquet), split="train")

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    cfg = DataConfig(source="hub", hub_id="open-r1/OpenR1-Math-220k", hub_config="default", split="train",
                     hub_revision="abc123")  # fmt: skip
    ds = load_traces(cfg)
    assert calls == [("open-r1/OpenR1-Math-220k", "default", {"split": "train", "revision": "abc123"})]
    assert len(ds) == 4


def test_hub_errors_name_the_config(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"hub_id='open-r1/OpenR1-Math-Raw'.*no network"):
        load_traces(DataConfig(source="hub", hub_id="open-r1/OpenR1-Math-Raw"))
    with pytest.raises(DataError, match="data.hub_id: required"):
        load_traces(DataConfig(source="hub"))


def test_column_map_renames_and_reads_struct_fields(tmp_path):
    # OpenR1-Math-Raw's layout: the verdicts sit in a struct column, the problem under another name here
    rows = []
    for i in range(3):
        r = good_row(i)
        r["question"] = r.pop("problem")
        r["correctness"] = {
            "llama_verification": r.pop("correctness_llama"),
            "math_verify_reparsed_answer": r.pop("correctness_math_verify"),
            "math_verify_answer": [False, False],
        }
        rows.append(r)
    path = write_jsonl(tmp_path / "raw.jsonl", rows)
    column_map = {
        "question": "problem",
        "correctness.llama_verification": "correctness_llama",
        "correctness.math_verify_reparsed_answer": "correctness_math_verify",
    }
    ds = load_traces(local(path, column_map=column_map))
    assert ds[1]["problem"] == "What is 1 + 1?"
    assert ds[1]["correctness_math_verify"] == [True, False] and ds[1]["correctness_llama"] == [True, False]
    with pytest.raises(DataError, match=r"column_map names column\(s\) \['correctness.nope'\]"):
        load_traces(local(path, column_map={**column_map, "correctness.nope": "x"}))


def test_synthetic_source_loads_the_teacher(monkeypatch):
    from redi.data import synthetic

    monkeypatch.setattr(synthetic, "generate_teacher_rows", lambda cfg: [good_row(0), good_row(1)])
    sources.forget_reads()  # rows are read once per process: start and end clean
    try:
        assert load_traces(DataConfig(source="synthetic"))["uuid"] == ["u0", "u1"]
    finally:
        sources.forget_reads()


# ---------------------------------------------------------------------------------------------------------------
# bad data: a clear error naming the row and column


def with_bad_row(tmp_path: Path, bad: dict) -> Path:
    rows = [good_row(i) for i in range(4)]
    rows[2] = bad
    return write_jsonl(tmp_path / "bad.jsonl", rows)


def test_missing_column_is_named(tmp_path):
    rows = [good_row(i) for i in range(3)]
    for r in rows:
        del r["correctness_llama"]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(DataError, match=r"missing column\(s\) \['correctness_llama'\].*column_map"):
        load_traces(local(path))
    # with math-verify alone the llama column is not needed
    assert len(load_traces(local(path, builder=BuilderConfig(verifiers="math_verify")))) == 3


def test_missing_is_reasoning_complete_is_named_when_required(tmp_path):
    rows = [good_row(i) for i in range(3)]
    for r in rows:
        del r["is_reasoning_complete"]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(DataError, match="is_reasoning_complete"):
        load_traces(local(path, builder=BuilderConfig(require_complete=True)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"correctness_math_verify": [True]},
            r"row 2, column 'correctness_math_verify': 1 entries but 'generations' has 2",
        ),
        ({"finish_reasons": ["stop", "stop", "stop"]}, r"row 2, column 'finish_reasons': 3 entries"),
        (
            {"generations": ["<think> 3 </think> \\boxed{3}", "   "]},
            r"row 2, column 'generations'\[1\]: empty generation",
        ),
        ({"generations": []}, r"row 2, column 'generations': expected a non-empty list"),
        ({"generations": None}, r"row 2, column 'generations': expected a non-empty list"),
        (
            {"generations": ["<think> 3 </think>", 7]},
            r"row 2, column 'generations'\[1\]: expected a string, got int",
        ),
        (
            {"generations": "<think> 3 </think> \\boxed{3}"},
            r"row 2, column 'generations': expected a non-empty list",
        ),
        ({"problem": ""}, r"row 2, column 'problem': no problem text"),
        ({"problem": None}, r"row 2, column 'problem': no problem text"),
        (
            {"correctness_llama": [True, "yes"]},
            r"row 2, column 'correctness_llama'\[1\]: expected true/false/null",
        ),
    ],
)
def test_bad_rows_are_named_by_index_and_column(tmp_path, change, message):
    bad = {**good_row(2), **change}
    path = with_bad_row(tmp_path, bad)
    with pytest.raises(DataError, match=message) as info:
        load_traces(local(path))
    assert str(path) in str(info.value)


def test_bad_rows_in_a_parquet_file_are_named(tmp_path):
    rows = [good_row(i) for i in range(4)]
    rows[3]["correctness_llama"] = [True]
    path = tmp_path / "bad.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    with pytest.raises(DataError, match=r"row 3, column 'correctness_llama': 1 entries"):
        load_traces(local(path))


def test_invalid_json_line_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(good_row(0)) + "\n{not json\n")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_traces(local(path))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (DataConfig(source="local"), "data.path: required"),
        (
            DataConfig(source="local", path="/nonexistent/x.jsonl"),
            "data.path='/nonexistent/x.jsonl': no such file",
        ),
        (DataConfig(source="files"), "data.source: unknown value 'files'"),
        (DataConfig(builder=BuilderConfig(verifiers="all")), "data.builder.verifiers='all': expected one of"),
    ],
)
def test_bad_config_is_named(cfg, message):
    with pytest.raises(DataError, match=message):
        load_traces(cfg)


def test_unknown_extension_is_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataError, match=r"extension '.csv'"):
        load_traces(replace(local(path)))
