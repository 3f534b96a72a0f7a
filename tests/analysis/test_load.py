"""The loader on hand-made run directories, and the W&B API path (only wandb.Api mocked) giving the same table."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_sweep import MEMBERS, STEPS, make_sweep, write_run  # noqa: E402

from redi.analysis.load import RUN_COLUMNS, benchmarks, load_sweep, long_form, parse_wandb_spec, runs  # noqa: E402


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return make_sweep(tmp_path)


def test_one_row_per_run_and_step_with_config_columns(sweep):
    df = load_sweep(sweep)
    assert list(df.columns[: len(RUN_COLUMNS) + 1]) == [*RUN_COLUMNS, "step"]
    assert set(df["run"]) == {m[0] for m in MEMBERS}
    assert not df.duplicated(["run", "step"]).any()
    one = df[df["run"] == "alpha=0.8,lr=0.0001,objective=redi"]
    assert one["step"].tolist() == list(range(STEPS + 1))
    # the evaluation and the training metrics of step 5 are one row
    row5 = one[one["step"] == 5].iloc[0]
    assert row5["eval/synthetic/pass@1"] == pytest.approx(0.55) and row5[
        "train/logps_chosen_per_token"
    ] == pytest.approx(-0.15)
    r = runs(df).set_index("run")
    assert r.loc["alpha=0.8,lr=0.0001,objective=redi", ["objective", "alpha", "lr", "seed"]].tolist() == [
        "redi",
        0.8,
        1e-4,
        42,
    ]
    assert math.isnan(r.loc["alpha=0.8,lr=0.0001,objective=redi", "beta"])
    assert r.loc["beta=2,gamma=1,objective=simpo", ["beta", "gamma"]].tolist() == [2.0, 1.0]
    assert r.loc["alpha=1.0,lr=0.0001,objective=redi", "config"] == "symmetric lr=1e-4"
    assert r.loc["beta=0.1,objective=dpo", "config"] == "DPO beta=0.1, lr=1e-4"
    assert r.loc["alpha=1.0,lr=0.0001,objective=redi", "status"] == "collapsed"
    assert r.loc["alpha=1.0,lr=0.0001,objective=redi", "collapse_step"] == 12
    assert pd.isna(r.loc["beta=0.1,objective=dpo", "collapse_step"])
    assert r.loc["beta=0.1,objective=dpo", "run_id"] == "id2"
    assert benchmarks(df) == ["synthetic"]


def test_non_finite_values_written_as_strings_are_floats(sweep):
    df = load_sweep(sweep)
    last = df[(df["run"] == "alpha=1.0,lr=0.0001,objective=redi") & (df["step"] == STEPS)].iloc[0]
    assert last["train/grad_norm"] == math.inf
    assert df["train/grad_norm"].dtype == "float64"


def test_unresolved_interpolations_cut_lines_and_empty_runs(tmp_path):
    sweep = tmp_path / "s"
    write_run(sweep / "objective=sft", "sft", {}, 0.0, None)
    cfg = sweep / "objective=sft" / ".hydra" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.0", "lr: ${stage1.lr}") + "stage1:\n  lr: 0.002\n")
    with open(sweep / "objective=sft" / "metrics.jsonl", "a") as f:
        f.write('{"step": 99, "train/lo')  # a line cut by a crash
    (sweep / "objective=dpo" / ".hydra").mkdir(parents=True)  # failed before logging anything
    (sweep / "objective=dpo" / ".hydra" / "config.yaml").write_text(
        "objective:\n  name: dpo\nbeta: 0.1\nlr: 1e-6\n"
    )
    (sweep / "objective=dpo" / "status.json").write_text(json.dumps({"state": "failed", "reason": "boom"}))
    (sweep / "analysis").mkdir()  # not a run directory
    df = load_sweep(sweep)
    r = runs(df).set_index("run")
    assert list(r.index) == ["objective=dpo", "objective=sft"]
    assert r.loc["objective=sft", "lr"] == 0.002
    assert df[df["run"] == "objective=sft"]["step"].max() == STEPS
    assert r.loc["objective=dpo", "status"] == "failed"
    assert pd.isna(df[df["run"] == "objective=dpo"]["step"]).all()
    # the tables keep such a run, with nothing measured
    from redi.analysis import tables

    summary = tables.stability_summary(df).set_index("run")
    assert summary.loc["objective=dpo", "status"] == "failed" and pd.isna(
        summary.loc["objective=dpo", "peak_acc"]
    )
    assert list(tables.table2(df)["config"]) == [
        tables.START_LABEL,
        "SFT lr=2e-3",
    ]  # no row for the failed run


def test_missing_sweep_names_the_places_tried(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs/sweeps"):
        load_sweep(tmp_path / "nope")
    with pytest.raises(ValueError, match="entity"):
        parse_wandb_spec("wandb:only/two")


def test_long_form_has_one_row_per_value(sweep):
    df = load_sweep(sweep)
    long = long_form(df)
    assert set(long.columns) == {*RUN_COLUMNS, "step", "metric", "value"}
    n_values = int(df[[c for c in df.columns if "/" in c]].notna().sum().sum())
    assert len(long) == n_values


# ---------------------------------------------------------------------------------------------------------------
# W&B: the same runs served by a mocked wandb.Api


class FakeRun:
    """The parts of wandb.apis.public.Run the loader touches."""

    def __init__(self, run_dir: Path, finished: bool = True, scan: bool = True) -> None:
        import yaml

        config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
        for k, v in config["objective"].items():  # W&B holds the resolved config
            if isinstance(v, str) and v.startswith("${"):
                config["objective"][k] = config[v[2:-1]]
        status = json.loads((run_dir / "status.json").read_text())
        self.config = {**config, "_wandb": {"cli_version": "0.31.0"}}
        self.name = run_dir.name
        self.id = status["wandb_run_id"]
        self.group = status["wandb_group"]
        self.job_type = config["objective"]["name"]
        self.state = "finished" if finished else "crashed"
        self.summary = {"state": status["state"], "final_step": status["step"]} if finished else {}
        if status.get("collapse_step") and finished:
            self.summary["collapse_step"] = status["collapse_step"]
        self.url = f"https://wandb.ai/ent/proj/runs/{self.id}"
        self._rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        if not scan:  # an Api object without scan_history: the loader falls back to history()
            self.scan_history = None

    def scan_history(self):  # noqa: F811 (replaced by None on some instances)
        for i, row in enumerate(self._rows):
            yield {"_step": i, "_runtime": 1.0 * i, "_timestamp": 1e9 + i, **row}

    def history(self, samples: int = 500, pandas: bool = True):
        return pd.DataFrame([{"_step": i, **row} for i, row in enumerate(self._rows)])


class FakeApi:
    def __init__(self, runs_by_path: dict[str, list[FakeRun]]) -> None:
        self.runs_by_path = runs_by_path
        self.calls: list[tuple[str, dict]] = []

    def runs(self, path: str, filters: dict | None = None):
        self.calls.append((path, filters or {}))
        return [r for r in self.runs_by_path.get(path, []) if r.group == (filters or {}).get("group")]


def test_wandb_source_gives_the_same_table(sweep, monkeypatch):
    fake_runs = [FakeRun(sweep / m[0], scan=i % 2 == 0) for i, m in enumerate(MEMBERS)]
    api = FakeApi({"ent/proj": fake_runs})
    import wandb

    monkeypatch.setattr(wandb, "Api", lambda *a, **k: api)
    offline = load_sweep(sweep)
    online = load_sweep(f"wandb:ent/proj/{sweep.name}")
    assert api.calls == [("ent/proj", {"group": sweep.name})]
    assert list(online.columns) == list(offline.columns)
    assert (online.dtypes == offline.dtypes).all()
    assert online["location"].str.startswith("https://wandb.ai/ent/proj/runs/").all()
    pd.testing.assert_frame_equal(online.drop(columns="location"), offline.drop(columns="location"))


def test_wandb_run_without_final_summary_takes_its_state_from_wandb(sweep):
    crashed = FakeRun(sweep / MEMBERS[0][0], finished=False)
    df = load_sweep(f"wandb:ent/proj/{sweep.name}", api=FakeApi({"ent/proj": [crashed]}))
    r = runs(df).iloc[0]
    assert r["status"] == "failed" and pd.isna(r["collapse_step"]) and r["final_step"] == STEPS


def test_curves_read_the_curve_subset_where_a_run_logged_one(tmp_path):
    """Run a logged eval.curve_limit's subset (curve keys at every point, all problems only at the end); run b did
    not. The curve columns hold a's subset at every step (its harder all-problems final stays in the plain
    column) and b's plain values; the stability summary's final accuracy is a's subset, 0.21, not 0.12."""
    from redi.analysis.tables import stability_summary

    sweep = tmp_path / "curves"
    write_run(sweep / "a", "redi", {"alpha": 0.8}, 1e-4, None)
    write_run(sweep / "b", "redi", {"alpha": 0.0}, 1e-4, None)
    rows = [
        {"step": 0, "eval/synthetic/curve/pass@1": 0.20, "eval/synthetic/curve/pass@1_sem": 0.01},
        {"step": 5, "eval/synthetic/curve/pass@1": 0.22, "eval/synthetic/curve/pass@1_sem": 0.01},
        {"step": 10, "eval/synthetic/pass@1": 0.12, "eval/synthetic/pass@1_sem": 0.005,
         "eval/synthetic/curve/pass@1": 0.21, "eval/synthetic/curve/pass@1_sem": 0.01},
    ]  # fmt: skip
    (sweep / "a" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plain = [{"step": s, "eval/synthetic/pass@1": v} for s, v in ((0, 0.2), (5, 0.19), (10, 0.18))]
    (sweep / "b" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in plain))
    df = load_sweep(sweep)
    assert benchmarks(df) == ["synthetic"]
    curve = df.set_index(["run", "step"])["eval/synthetic/curve/pass@1"]
    assert curve.loc["a"].tolist() == [0.20, 0.22, 0.21]
    assert curve.loc["b"].tolist() == [0.2, 0.19, 0.18]
    assert df.set_index(["run", "step"]).loc[("a", 10), "eval/synthetic/pass@1"] == 0.12
    summary = stability_summary(df).set_index("run")
    assert summary.loc["a", ["start_acc", "peak_acc", "final_acc"]].tolist() == [0.20, 0.22, 0.21]


def test_an_older_runs_per_token_logps_are_read_under_todays_names():
    """Runs logged before the TRL names wrote per-token means as train/logps_*; today's runs log both names."""
    from redi.analysis.load import current_names

    old = {"step": 1, "train/logps_chosen": -0.1, "train/logps_rejected": -0.5, "train/margin": 0.4}
    assert current_names(old) == {
        "step": 1,
        "train/logps_chosen_per_token": -0.1,
        "train/logps_rejected_per_token": -0.5,
        "train/margin": 0.4,
    }
    new = {"train/logps_chosen": -12.0, "train/logps_chosen_per_token": -0.1}
    assert current_names(new) == new
