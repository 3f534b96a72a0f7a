"""Committed raw results: a sweep exported to raw/ gives the same tables as its run directories, and redi analyze
on raw/ alone regenerates every table and figure byte for byte."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from redi.analysis import gains, raw
from redi.analysis.__main__ import main as analysis_main
from redi.analysis.load import RUN_COLUMNS, load_sweep
from tests.analysis.fake_sweep import make_paired_sweep


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    sweep = make_paired_sweep(root)
    committed = root / "committed"
    assert analysis_main(["--export", str(sweep), str(committed)]) == 0
    return sweep, committed


def outputs(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_export_writes_two_compressed_files_and_the_tables_beside_them(exported):
    _, committed = exported
    assert sorted(p.name for p in (committed / "raw").iterdir()) == ["runs.jsonl.gz", "samples.tsv.gz"]
    names = set(outputs(committed))
    assert {"gains.md", "summary.csv", "table2.md", "stability.png", "fig7_alpha.png", "curves.csv"} <= names
    with gzip.open(committed / "raw" / "samples.tsv.gz", "rt") as f:
        header, first = f.readline(), f.readline()
    assert header.rstrip("\n").split("\t") == list(raw.SAMPLE_COLUMNS)
    # the control at step 0: 4 problems x 2 samples, one correct each; no classifier for the fake benchmark
    assert first.rstrip("\n").split("\t") == ["alpha=0.0,lr=0.0001,seed=1", "0", "synthetic", "p0", "1 0", "10 10",
                                              "0 0", "- -", "- -"]  # fmt: skip


def test_analyze_on_raw_alone_regenerates_every_output_byte_for_byte(exported, tmp_path):
    _, committed = exported
    again = tmp_path / "again"
    assert analysis_main([str(committed), "--out", str(again)]) == 0
    assert outputs(again) == {k: v for k, v in outputs(committed).items()}


def test_exporting_twice_gives_the_same_bytes(exported, tmp_path):
    sweep, committed = exported
    raw.export_sweep(sweep, tmp_path)
    for name in (raw.RUNS_FILE, raw.SAMPLES_FILE):
        assert (tmp_path / "raw" / name).read_bytes() == (committed / "raw" / name).read_bytes()


def test_raw_results_give_the_run_directories_numbers(exported):
    sweep, committed = exported
    from_dirs, from_raw = load_sweep(sweep), load_sweep(committed)
    columns = [c for c in from_dirs.columns if c != "location"]
    pd.testing.assert_frame_equal(from_dirs[columns], from_raw[columns])
    assert set(from_raw["location"]) == {f"raw/{r}" for r in from_raw["run"]}
    assert list(from_raw.columns[: len(RUN_COLUMNS)]) == list(RUN_COLUMNS)
    pd.testing.assert_frame_equal(gains.gains_table(from_dirs), gains.gains_table(from_raw))


def test_failure_kinds_and_shortcuts_come_from_the_synthetic_classifier():
    """The shortcut task's held-out problem 0: no boxed answer is 'truncated', or 'stop_early' once thinking
    closed; a correct sample has no kind; a step written without its column work counts as a shortcut."""
    synthetic = {"task": "shortcut", "num_eval_problems": 3}
    reader = raw.FailureReader(
        {"data": {"synthetic": synthetic}, "eval": {"benchmarks": {"s": {"source": "synthetic"}}}}
    )
    first = next(iter(reader.expressions))
    assert reader.kind({"prompt_id": first, "correct": False, "text": "12 + 3"}) == "truncated"
    assert reader.kind({"prompt_id": first, "correct": False, "text": "12 + 3</think>"}) == "stop_early"
    assert reader.kind({"prompt_id": first, "correct": True, "text": ""}) == "-"
    assert reader.shortcut({"text": "58 + 67 = 125\n125 + 18 [5+8=13 2+1+1=4 1=1] = 143"}) == "1/2"
    plain = raw.FailureReader({"data": {}, "eval": {"benchmarks": {"m": {"source": "local"}}}})
    assert (
        plain.kind({"prompt_id": first, "correct": False}),
        plain.shortcut({"text": "58 + 67 = 125"}),
    ) == ("-", "-")


def test_failure_kinds_per_configuration_by_hand(exported, tmp_path):
    """The exported sweep with kinds written in: alpha 0.8 at 1e-4's final samples (2 replicates x 4 problems x 2
    samples) show 'shortcut_slip' on 2 of 8 and 1 of 8 samples: 18.75 % on average; shortcuts 1/4 and 3/4."""
    import shutil

    from redi.analysis.failures import failures_table, run_failures

    _, committed = exported
    copy = tmp_path / "kinds"
    shutil.copytree(committed / "raw", copy / "raw")
    samples = raw.read_samples(committed)
    final = samples["step"] == 20
    for run, slips, shortcut in (
        ("alpha=0.8,lr=0.0001,seed=1", 2, "1/2"),
        ("alpha=0.8,lr=0.0001,seed=2", 1, "2/2"),
    ):
        rows = samples.index[final & (samples["run"] == run)]
        kinds = ["shortcut_slip"] * slips + ["-"] * (2 * len(rows) - slips)
        samples.loc[rows, "kind"] = [" ".join(kinds[2 * i : 2 * i + 2]) for i in range(len(rows))]
        samples.loc[rows, "shortcut"] = f"{shortcut} 0/0"
    text = samples.assign(step=samples["step"].astype(str)).to_csv(sep="\t", index=False)
    raw._write_gzip(copy / "raw" / raw.SAMPLES_FILE, text)
    plain = pd.DataFrame(
        {"kind": ["- -", "- -"], "shortcut": ["- -", "- -"]}
    )  # no classifier: nothing to say
    assert run_failures(plain) == {}
    table = failures_table(load_sweep(copy)).set_index("config")
    row = table.loc["REDI alpha=0.8, lr=1e-4"]
    assert row["replicates"] == 2 and row["shortcut_slip"] == pytest.approx((2 / 8 + 1 / 8) / 2)
    assert row["shortcut_rate"] == pytest.approx((4 / 8 + 8 / 8) / 2)
    assert list(table.index) == ["REDI alpha=0.8, lr=1e-4"]
