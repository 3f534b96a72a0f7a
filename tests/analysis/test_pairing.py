"""Pairing by replicate, arm and lr, the t-interval over replicates worked by hand, the treatment rows, and the
runs left out (unfinished, stage 1), on run directories written here the way the issue-21 sweeps wrote theirs.

Each data seed scores its own held-out problems (ids differ), so no problem is shared across replicates: the gain
must be the mean of the per-replicate paired gains, never a pooled difference over common problems.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from redi.analysis import gains
from redi.analysis.__main__ import main as analysis_main
from redi.analysis.load import load_sweep
from redi.analysis.pairing import arm_settings, replicate_of, t_quantile

STEP = 10
START = [0.5, 0.5, 0.5, 0.5]
CONTROL = [0.5, 0.5, 0.5, 0.5]
# replicate -> (seed, stage1.seed, data.synthetic.seed)
REPLICATES = {"a": (1, 42, 1234), "b": (2, 42, 1234), "c": (1, 43, 1235), "d": (2, 43, 1235)}


def write_run(sweep: Path, name: str, rep: str, final: list[float], **settings: Any) -> None:
    """A finished stage-2 run (unless ``state`` says otherwise): config, status, metrics and eval at 0 and STEP.

    settings: objective (redi), alpha, lr (1e-4), error_rate (0.0), self_generated, swap, mode (train), state
    (completed), collapse_step, max_steps, final_step (STEP).
    """
    seed, stage1_seed, data_seed = REPLICATES[rep]
    objective = settings.get("objective", "redi")
    mode = settings.get("mode", "train")
    config = {
        "mode": mode,
        "objective": {"name": objective},
        "alpha": settings.get("alpha"),
        "lr": settings.get("lr", 1e-4),
        "seed": seed,
        "stage1": {"seed": stage1_seed, "lr": 2e-5},
        "model": {"base": "/cache/stage1/model" if objective == "sft" else None},
        "data": {
            "builder": {"swap_pairs": settings.get("swap", False)},
            "self_generated": {"enabled": settings.get("self_generated", False), "seed": 7},
            # the model teacher's block differs between stage 1 and stage 2 (defaults changed mid-sweep): with
            # teacher=rules it is no arm
            "synthetic": {"task": "shortcut", "teacher": "rules", "seed": data_seed,
                          "error_rate": settings.get("error_rate", 0.0),
                          "model_teacher": {"draw": 0, "epochs": 1.0 if mode == "stage1" else 3.0}},
        },
        "trainer": {"max_steps": settings.get("max_steps", STEP), "collapse": {"enabled": True, "window": 5}},
    }  # fmt: skip
    run_dir = sweep / name
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    state = settings.get("state", "completed")
    final_step = settings.get("final_step", STEP)
    status = {
        "state": state,
        "step": final_step,
        "objective": objective,
        "collapse_step": settings.get("collapse_step"),
    }
    (run_dir / "status.json").write_text(json.dumps(status))
    if mode == "stage1":
        return
    metrics = [
        {"step": s, "train/logps_chosen": -0.2, "train/logps_rejected": -0.6}
        for s in range(1, final_step + 1)
    ]
    (run_dir / "eval").mkdir()
    for step, scores in ((0, START), (final_step, final)):
        metrics.append({"step": step, "eval/synthetic/pass@1": sum(scores) / len(scores)})
        rows = [
            {"step": step, "benchmark": "synthetic", "prompt_id": f"d{data_seed}-p{p}", "sample_index": j,
             "correct": j < round(2 * score), "num_tokens": 10, "finish_reason": "stop"}
            for p, score in enumerate(scores) for j in range(2)
        ]  # fmt: skip
        (run_dir / "eval" / f"step_{step}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))


def make_sweep(root: Path) -> Path:
    sweep = root / "issue21"
    for rep in "abcd":  # replicate c's data gives one batch less: it ends at step 9
        write_run(sweep, f"control_{rep}", rep, CONTROL, alpha=0.0, final_step=9 if rep == "c" else STEP)
    write_run(sweep, "redi_a", "a", [1.0, 0.5, 0.5, 0.5], alpha=0.8)  # +0.125
    write_run(
        sweep, "redi_b", "b", [1.0, 1.0, 0.5, 0.5], alpha=0.8, state="collapsed", collapse_step=8
    )  # +0.25
    write_run(sweep, "redi_c", "c", [0.5, 0.5, 0.5, 0.0], alpha=0.8, final_step=9)  # -0.125
    write_run(sweep, "redi_d", "d", [1.0, 1.0, 1.0, 1.0], alpha=0.8, state="running")  # excluded
    # RFT: SFT on the student's own correct samples from the stage-1 model, its own max_steps
    write_run(sweep, "rft_a", "a", [1.0, 1.0, 1.0, 0.5], objective="sft", self_generated=True, max_steps=30)
    write_run(sweep, "rft_b", "b", [1.0, 1.0, 0.5, 0.5], objective="sft", self_generated=True, max_steps=30)
    write_run(sweep, "own_a", "a", [0.5, 0.5, 0.5, 0.5], alpha=0.8, self_generated=True)
    write_run(sweep, "swap_a", "a", [0.0, 0.5, 0.5, 0.5], alpha=0.8, swap=True)
    # a dose-response arm with its own controls; a stage-1 run at stage 1's lr (the phantom lr=2e-5 row)
    for rep in "ac":
        write_run(sweep, f"control_e02_{rep}", rep, CONTROL, alpha=0.0, error_rate=0.2)
    write_run(sweep, "redi_e02_a", "a", [0.0, 0.5, 0.5, 0.5], alpha=0.8, error_rate=0.2)  # -0.125
    write_run(sweep, "redi_e02_c", "c", [0.0, 0.0, 0.5, 0.5], alpha=0.8, error_rate=0.2)  # -0.25
    write_run(sweep, "_stage1_R1", "a", [], alpha=0.8, lr=2e-5, mode="stage1")
    return sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("pairing"))


@pytest.fixture(scope="module")
def table(sweep) -> Any:
    return gains.gains_table(load_sweep(sweep))


def row(table, config: str, arm: str = "") -> Any:
    rows = table[(table["config"] == config) & (table["arm"] == arm)]
    assert len(rows) == 1, (config, arm, table[["config", "arm"]].to_dict("records"))
    return rows.iloc[0]


def test_replicate_and_arm_keys_of_a_config():
    config = {"seed": 1, "stage1": {"seed": 42}, "eval": {"seed": 0},
              "data": {"synthetic": {"seed": 1234, "teacher": "model", "error_rate": 0.1,
                                     "model_teacher": {"draw": 2, "seed": 5, "epochs": 3.0}}}}  # fmt: skip
    assert replicate_of(config) == (
        "data.synthetic.model_teacher.draw=2, data.synthetic.seed=1234, seed=1, stage1.seed=42"
    )
    assert arm_settings(config) == {
        "data.synthetic.error_rate": "0.1",
        "data.synthetic.model_teacher.epochs": "3.0",
        "data.synthetic.teacher": '"model"',
    }
    config["data"]["synthetic"]["teacher"] = "rules"  # the model teacher's block is no arm then
    assert set(arm_settings(config)) == {"data.synthetic.error_rate", "data.synthetic.teacher"}


def test_t_quantiles():
    assert t_quantile(1) == 12.706 and t_quantile(2) == 4.303 and t_quantile(30) == 2.042
    assert t_quantile(60) == pytest.approx(2.0003, abs=1e-4) and t_quantile(1000) == pytest.approx(
        1.9623, abs=1e-4
    )


def test_rows_are_the_configurations_that_ran_and_finished(table):
    assert list(zip(table["config"], table["arm"], strict=True)) == [
        ("REDI alpha=0.8, lr=1e-4", "error_rate=0.0"),
        ("REDI alpha=0.8, lr=1e-4", "error_rate=0.2"),
        ("REDI alpha=0.8, lr=1e-4 [self-generated]", "error_rate=0.0"),
        ("SFT lr=1e-4 [self-generated]", "error_rate=0.0"),
        ("REDI alpha=0.8, lr=1e-4 [labels swapped]", "error_rate=0.0"),
    ]  # no stage-1 row (lr 2e-5), no control row, no pooled variants
    assert table.attrs["excluded"] == {
        "unfinished": ["redi_d (running)"],
        "stage1": ["_stage1_R1"],
        "unpaired": [],
    }


def test_the_gain_is_the_mean_of_the_replicates_gains_with_a_t_interval(table):
    r = row(table, "REDI alpha=0.8, lr=1e-4", "error_rate=0.0")
    per = [0.125, 0.25, -0.125]  # replicates a, b, c (d unfinished); no problem is shared between b and c
    se = statistics.stdev(per) / math.sqrt(3)
    assert (
        r["replicates"] == 3
        and r["final_gain"] == pytest.approx(1 / 12)
        and r["final_se"] == pytest.approx(se)
    )
    assert r["final_low"] == pytest.approx(1 / 12 - 4.303 * se) and r["final_high"] == pytest.approx(
        1 / 12 + 4.303 * se
    )
    assert r["per_replicate"] == "R1 +12.5 R2 +25.0 R3 -12.5"
    assert r["varies"] == "data.synthetic.seed, seed, stage1.seed" and r["problems"] == 4
    assert r["final_acc"] == pytest.approx((0.625 + 0.75 + 0.375) / 3) and r["control_acc"] == pytest.approx(
        0.5
    )
    # the collapsed run is finished (a final state) and counted; log-probs read under their old names
    assert r["collapsed"] == "1/3" and r["logps_chosen_end"] == pytest.approx(-0.2)
    assert r["logps_rejected_end"] == pytest.approx(-0.6)
    # the best checkpoint is each run's k-th evaluation (the last; replicate c's at step 9), the control's the first
    assert (r["best_step"], r["control_best_step"]) == ("9/10", "0") and r["best_gain"] == pytest.approx(
        1 / 12
    )


def test_treatment_variants_pair_with_the_plain_control_of_their_replicate(table):
    rft = row(table, "SFT lr=1e-4 [self-generated]", "error_rate=0.0")
    assert rft["treatment"].startswith("RFT") and rft["per_replicate"] == "R1 +37.5 R2 +25.0"
    assert rft["final_gain"] == pytest.approx(0.3125) and rft["final_se"] == pytest.approx(0.0625)
    assert rft["final_low"] == pytest.approx(0.3125 - 12.706 * 0.0625)
    own = row(table, "REDI alpha=0.8, lr=1e-4 [self-generated]", "error_rate=0.0")
    # one replicate: its gain, the SE over its problems, no interval
    assert own["treatment"] == "student's own pairs" and own["replicates"] == 1 and own["final_gain"] == 0.0
    assert math.isnan(own["final_low"])
    swap = row(table, "REDI alpha=0.8, lr=1e-4 [labels swapped]", "error_rate=0.0")
    d = [-0.5, 0.0, 0.0, 0.0]
    assert swap["final_gain"] == pytest.approx(-0.125) and swap["final_se"] == pytest.approx(
        statistics.stdev(d) / 2
    )


def test_dose_response_pairs_within_its_arm(table):
    dose = gains.dose_response_table(table)
    redi = dose[dose["config"] == "REDI alpha=0.8, lr=1e-4"]
    assert redi["arm"].tolist() == ["error_rate=0.0", "error_rate=0.2"]
    assert redi["final_gain"].tolist() == [pytest.approx(1 / 12), pytest.approx(-0.1875)]
    assert redi["per_replicate"].tolist()[1] == "R1 -12.5 R3 -25.0"


def test_gains_markdown_lists_replicates_exclusions_and_the_best_lr(table):
    md = gains.gains_markdown(table)
    assert "## Dose-response: error_rate" in md and "## Each configuration at its own best lr" in md
    assert "| RFT lr=1e-4 | error_rate=0.0 |" in md and "[student's own pairs]" in md
    assert "- R2: data.synthetic.model_teacher.draw=0, data.synthetic.seed=1234, seed=2, stage1.seed=42" in md
    assert "Unfinished runs excluded (status not final): 1 (redi_d (running))." in md
    assert "Stage-1 runs in the sweep directory, not compared: 1 (_stage1_R1)." in md
    half = 4.303 * statistics.stdev([0.125, 0.25, -0.125]) / math.sqrt(3)  # 0.4744
    assert f"| +8.3 ± 11.0 | {100 * (1 / 12 - half):+.1f} to {100 * (1 / 12 + half):+.1f} (t, 2 df) |" in md


def test_export_twice_gives_the_same_bytes_and_analyze_regenerates_them(sweep, tmp_path):
    first, second, again = tmp_path / "first", tmp_path / "second", tmp_path / "again"
    assert analysis_main(["--export", str(sweep), str(first)]) == 0
    assert analysis_main(["--export", str(sweep), str(second)]) == 0
    assert analysis_main([str(first), "--out", str(again)]) == 0

    def files(d: Path) -> dict[str, bytes]:
        return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

    assert files(first) == files(second)
    assert {k: v for k, v in files(first).items() if not k.startswith("raw/")} == files(again)
    assert (first / "gains.md").read_text() == gains.gains_markdown(gains.gains_table(load_sweep(first)))


def test_outputs_leave_out_stage1_runs_and_table2_says_why_it_is_not_written(sweep, tmp_path):
    out = tmp_path / "out"
    assert analysis_main(["--export", str(sweep), str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "lr=2e-5" not in summary  # the stage-1 run (stage 1's lr) is no configuration of the sweep
    assert "REDI alpha=0.8, lr=1e-4" in summary
    table2 = (out / "table2.md").read_text()
    # replicates a/b and c/d come from two stage-1 models (stage1.seed 42 / 43), scored on their own problems
    assert table2.startswith("Table 2 is not written for this sweep: its runs start from 2 stage-1 models")
    assert "stage1.seed=42" in table2 and "stage1.seed=43" in table2 and "seed=1," not in table2
