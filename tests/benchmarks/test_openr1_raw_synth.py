"""benchmarks/openr1_raw_synth.py: the hub's schema and null patterns, determinism, prefixes, planted problems."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from redi.data.decontaminate import NgramIndex
from tests.benchmarks.synth_fixtures import small_config, synth, write_benchmarks


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    return write_benchmarks(tmp_path_factory.mktemp("benchmarks"))


@pytest.fixture(scope="module")
def full(tmp_path_factory, bench_dir):
    out = tmp_path_factory.mktemp("synth") / "full"
    manifest = synth.generate(small_config(bench_dir, rows_per_shard=64), out, log=lambda _: None)
    return out, manifest, pq.read_table(synth.data_files(out)).to_pylist()


def test_rows_have_the_hub_schema_with_aligned_verdicts(full):
    out, manifest, rows = full
    files = synth.data_files(out)
    assert [f.name for f in files] == [
        "train-00000.parquet",
        "train-00001.parquet",
        "train-00002.parquet",
        "train-00003.parquet",
    ]
    assert all(pq.read_schema(f) == synth.SCHEMA for f in files)
    assert len(rows) == manifest["stats"]["rows"] == 200
    for row in rows:
        n = len(row["generations"])
        assert 2 <= n <= 8 and row["generations_count"] == n
        verdicts = row["correctness"]
        assert len(verdicts["math_verify_answer"]) == len(verdicts["math_verify_reparsed_answer"]) == n
        assert verdicts["llama_verification"] is None or len(verdicts["llama_verification"]) == n
        assert all(g.startswith("<think>\n") for g in row["generations"])
        assert row["problem_is_valid"] in ("Yes", "No", None)
    assert sum(len(r["generations"]) for r in rows) == manifest["stats"]["traces"]
    assert {r["source"] for r in rows} >= {"cn_k12", "olympiads"}


def test_llama_verdicts_are_null_for_whole_rows_and_single_traces(full):
    _, manifest, rows = full
    whole = sum(r["correctness"]["llama_verification"] is None for r in rows)
    single = sum(
        v is None
        for r in rows
        if r["correctness"]["llama_verification"]
        for v in r["correctness"]["llama_verification"]
    )
    assert whole == manifest["stats"]["llama_null_rows"] and whole > 0
    assert single == manifest["stats"]["llama_null_traces"] and single > 0


def test_a_complete_trace_boxes_an_answer_and_a_cut_one_does_not(full):
    _, _, rows = full
    cut = [g for r in rows for g in r["generations"] if "</think>" not in g]
    done = [g for r in rows for g in r["generations"] if "</think>" in g]
    assert cut and done
    assert not any("\\boxed" in g for g in cut)
    assert all(g.rstrip().endswith("}$.") and "\\boxed{" in g.rsplit("</think>", 1)[1] for g in done)


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path, bench_dir, full):
    _, manifest, rows = full
    again = synth.generate(small_config(bench_dir, rows_per_shard=64), tmp_path / "again", log=lambda _: None)
    assert again["files"] == manifest["files"]
    synth.generate(small_config(bench_dir, seed=1), tmp_path / "other", log=lambda _: None)
    other_rows = pq.read_table(synth.data_files(tmp_path / "other")).to_pylist()
    assert [r["problem"] for r in other_rows] != [r["problem"] for r in rows]


def test_a_fraction_is_the_prefix_of_the_full_data(tmp_path, bench_dir, full):
    _, _, rows = full
    half = synth.generate(small_config(bench_dir, fraction=0.5), tmp_path / "half", log=lambda _: None)
    assert half["stats"]["rows"] == 100
    assert pq.read_table(synth.data_files(tmp_path / "half")).to_pylist() == rows[:100]


def test_exactly_the_planted_problems_share_a_benchmark_8gram(full, bench_dir):
    _, manifest, rows = full
    index = NgramIndex(synth.benchmark_problems(bench_dir), 8)
    flagged = [r for r in rows if index.contains(r["problem"])]
    assert len(flagged) == manifest["stats"]["rows_planted"] > 0
    kept = [r for r in flagged if r["problem_is_valid"] == "Yes" and r["source"] != "cn_k12"]
    assert len(kept) == manifest["stats"]["planted_kept"]


def test_trace_lengths_are_log_normal_longer_when_wrong_and_cut_at_the_limit(bench_dir):
    maker = synth.RowMaker(small_config(bench_dir))
    rng = np.random.default_rng(0)
    correct = rng.random(20_000) < 0.5
    target, complete = maker._lengths(rng, correct, easy=False)
    tokens = target / synth.BYTES_PER_TOKEN / 1.04
    assert np.median(tokens[correct]) == pytest.approx(2000, rel=0.05)
    assert np.median(tokens[~correct & complete]) == pytest.approx(3000, rel=0.1)  # the cut tail removed
    assert complete[correct].all()
    assert 0.08 < 1 - complete[~correct].mean() < 0.13  # 8 % cut, plus draws past 16,384 tokens
    assert np.allclose(tokens[~complete], synth.R1_TOKEN_LIMIT, rtol=0.25)
