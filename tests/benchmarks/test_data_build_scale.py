"""benchmarks/data_build_scale.py: the peer (the authors' approach) and redi's build keep the same rows.

On a small generation whose limits are lowered so every rule removes something (planted benchmark problems,
invalid rows, cn_k12, problems without both verdicts, prompts and responses over the limits), both sides must
produce the same D_SFT and D_Pref ids in the same order, and redi's funnel must match the generator's counts.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

import datasets
import pyarrow.parquet as pq
import pytest

from redi.model.load import train_tokenizer
from tests.benchmarks.synth_fixtures import BENCHMARKS_DIR, scale, small_config, synth, write_benchmarks


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    bench = write_benchmarks(root / "benchmarks")
    cfg = small_config(bench, rows=400, long_problem_rate=0.05)
    manifest = synth.generate(cfg, root / "data", log=lambda _: None)
    rows = pq.read_table(synth.data_files(root / "data")).to_pylist()
    tok = train_tokenizer(
        [r["problem"] for r in rows] + [g for r in rows for g in r["generations"]], 600, "chatml_think"
    )
    tok.save_pretrained(str(root / "tok"))
    lengths = [len(ids) for ids in tok([g for r in rows for g in r["generations"]])["input_ids"]]
    limits = {"max_prompt_tokens": 400, "max_response_tokens": int(statistics.quantiles(lengths, n=4)[2])}
    with pytest.MonkeyPatch.context() as mp:  # the Arrow caches of the loads go to the test's folder
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", root / "hf_cache")
        results = {side: _side(side, root, bench, limits) for side in ("peer", "redi")}
    return manifest, results


def _side(side: str, root, bench, limits: dict) -> dict:
    """One side's ids (and funnel) on the generation in ``root``, as the benchmark's worker runs it."""
    spec = {
        "side": side, "data": str(root / "data"), "path": str(synth.data_files(root / "data")[0]),
        "tokenizer": str(root / "tok"), "benchmarks": str(bench), "work": str(root / f"work-{side}"),
        "limits": limits,
    }  # fmt: skip
    return (scale.peer_side if side == "peer" else scale.redi_side)(spec)


def test_peer_and_redi_keep_the_same_rows_in_the_same_order(built):
    _, results = built
    peer, redi = results["peer"], results["redi"]
    assert peer["sft_ids"] == redi["sft_ids"]
    assert peer["pair_ids"] == redi["pair_ids"]
    assert 0 < len(redi["pair_ids"]) < len(redi["sft_ids"])


def test_every_rule_removes_rows_and_the_funnel_matches_the_generator(built):
    manifest, results = built
    funnel, stats = results["redi"]["funnel"], manifest["stats"]
    assert funnel["rows_loaded"] == stats["rows"] == 400
    assert funnel["rows_source"] == stats["rows_valid_not_cn_k12"] < funnel["rows_valid"] < 400
    assert funnel["rows_source"] - funnel["rows_decontaminated"] == stats["planted_kept"] > 0
    assert funnel["sft_has_correct"] == funnel["sft_rows"] == stats["has_correct"]
    assert funnel["pairs_has_both"] == stats["has_both"]
    assert funnel["pairs_has_both"] > funnel["pairs_prompt_fits"] > funnel["pairs_responses_fit"] > 0


@pytest.mark.slow
def test_the_sitting_prints_a_table_with_both_sides_and_the_same_ids(tmp_path):
    bench = write_benchmarks(tmp_path / "benchmarks")
    cmd = [
        sys.executable, str(BENCHMARKS_DIR / "data_build_scale.py"), "--rows", "120", "--fractions", "0.5,1",
        "--pool-size", "1500", "--workdir", str(tmp_path / "work"), "--benchmarks", str(bench),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("same D_SFT / D_Pref ids: True") == 2
    rows = [
        line.split("|")
        for line in out.stdout.splitlines()
        if line.startswith("| 0.5 |") or line.startswith("| 1 |")
    ]
    assert [(r[1].strip(), r[3].strip()) for r in rows] == [
        ("0.5", "peer"),
        ("0.5", "redi"),
        ("1", "peer"),
        ("1", "redi"),
    ]
    assert all(float(r[5]) > 0 and float(r[6]) > 0 and float(r[7]) > 0 for r in rows)  # CPU s, peak RSS, anon
    assert "command:" in out.stdout and "load" in out.stdout and "versions:" in out.stdout
