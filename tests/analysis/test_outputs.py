"""Tables, the figure command, the W&B views and the stored notebooks, on hand-made run directories."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_sweep import MEMBERS, STEPS, make_sweep  # noqa: E402

from redi.analysis import figures, tables, wandb_views  # noqa: E402
from redi.analysis.__main__ import main as analysis_main  # noqa: E402
from redi.analysis.load import load_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "analysis").glob("*.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return make_sweep(tmp_path)


def test_stability_summary_peak_final_and_collapse(sweep):
    s = tables.stability_summary(load_sweep(sweep)).set_index("run")
    sym = s.loc["alpha=1.0,lr=0.0001,objective=redi"]
    assert sym["peak_acc"] == pytest.approx(0.6) and sym["peak_step"] == 10
    assert sym["final_acc"] == pytest.approx(0.0, abs=1e-9) and sym["final_step"] == STEPS
    assert sym["collapse_step"] == 12 and sym["collapse_by"] == "run"
    assert sym["logps_chosen_end"] < sym["logps_chosen_start"] - 1
    stable = s.loc["alpha=0.8,lr=0.0001,objective=redi"]
    assert stable["peak_acc"] == pytest.approx(0.7) and stable["drop_from_peak"] == pytest.approx(0.0)
    assert pd.isna(stable["collapse_step"]) and stable["start_acc"] == pytest.approx(0.5)
    # the paper's row order: DPO, SimPO, then REDI
    assert list(s["objective"]) == ["dpo", "simpo", "redi", "redi"]


def test_collapse_is_replayed_when_the_run_recorded_none(sweep):
    status_path = sweep / "alpha=1.0,lr=0.0001,objective=redi" / "status.json"
    status = json.loads(status_path.read_text())
    status["collapse_step"] = None
    status_path.write_text(json.dumps(status))
    s = tables.stability_summary(load_sweep(sweep)).set_index("run")
    sym = s.loc["alpha=1.0,lr=0.0001,objective=redi"]
    # log-probs have fallen > 1 nat (window 5) by step 15, the first evaluation below the peak by > 0.05
    assert sym["collapse_by"] == "replay" and sym["collapse_step"] == 15
    assert pd.isna(s.loc["alpha=0.8,lr=0.0001,objective=redi", "collapse_step"])


def test_table2_takes_the_best_checkpoint_in_percent(sweep):
    t = tables.table2(load_sweep(sweep)).set_index("config")
    assert t.index[0] == tables.START_LABEL
    assert t.loc[tables.START_LABEL, "synthetic"] == pytest.approx(50.0)
    assert t.loc["symmetric lr=1e-4", "best_step"] == 10
    assert t.loc["symmetric lr=1e-4", "synthetic"] == pytest.approx(60.0)
    assert t.loc["symmetric lr=1e-4", "synthetic_sem"] == pytest.approx(2.0)
    assert t.loc["REDI alpha=0.8, lr=1e-4", "avg"] == pytest.approx(70.0)
    md = tables.table2_markdown(t.reset_index())
    assert "| symmetric lr=1e-4 | 60.0 ± 2.0 | 60.0 | 10 | 1 |" in md


def test_table2_averages_seeds_with_combined_standard_error(tmp_path):
    from fake_sweep import write_run

    sweep = tmp_path / "seeds"
    for seed in (1, 2):
        write_run(sweep / f"seed={seed}", "redi", {"alpha": 0.8}, 1e-4, None, seed=seed)
    t = tables.table2(load_sweep(sweep)).set_index("config")
    row = t.loc["REDI alpha=0.8, lr=1e-4"]
    assert row["seeds"] == 2 and row["best_step"] == STEPS
    assert row["synthetic_sem"] == pytest.approx(100 * (2 * 0.02**2) ** 0.5 / 2)


def test_families_select_the_paper_figures_runs(sweep):
    df = load_sweep(sweep)
    sel = {f.key: figures.family_runs(df, f) for f in figures.FAMILIES}
    assert sel["fig3_dpo"] == ["beta=0.1,objective=dpo"]
    assert sel["fig5_simpo"] == ["beta=2,gamma=1,objective=simpo"]
    assert sorted(sel["fig6_symmetric"]) == [
        "alpha=0.8,lr=0.0001,objective=redi",
        "alpha=1.0,lr=0.0001,objective=redi",
    ]
    no_symmetric = df[df["alpha"] != 1.0]
    assert figures.family_runs(no_symmetric, figures.FAMILY_BY_KEY["fig6_symmetric"]) == []
    assert figures.family_figure(df[df["objective"] != "dpo"], "fig3_dpo") is None


def test_command_writes_figures_and_tables_into_the_sweep(sweep, capsys):
    assert analysis_main([str(sweep)]) == 0
    out = sweep / "analysis"
    printed = capsys.readouterr().out.split()
    for name in ("fig3_dpo", "fig4_dpo_lr", "fig5_simpo", "fig6_symmetric", "fig7_alpha", "stability"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and str(png) in printed
    table2 = (out / "table2.md").read_text()
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["run"]) == sorted(m[0] for m in MEMBERS)
    for config in load_sweep(sweep)["config"].unique():
        assert config in table2
    assert set(pd.read_csv(out / "runs.csv")["run"]) == {m[0] for m in MEMBERS}
    assert "no alpha = 0 control" not in (out / "gains.md").read_text()  # a table (NaN rows: no control here)
    assert len(pd.read_csv(out / "gains.csv")) == len(MEMBERS)


def test_command_reports_a_missing_sweep(tmp_path, capsys):
    assert analysis_main([str(tmp_path / "absent")]) == 2
    assert "no such directory" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# W&B views (offline: the objects and their JSON; saving is only attempted when the API answers)


def test_workspace_filters_the_group_and_plots_the_collapse_panels():
    spec = wandb_views.build_workspace("ent", "proj", "cpu_ablation", benchmark="synthetic")
    model = json.loads(spec._to_model().model_dump_json(by_alias=True))
    text = json.dumps(model)
    for metric in (
        "eval/synthetic/pass@1",
        "train/logps_chosen_per_token",
        "train/logps_rejected_per_token",
        "train/update_norm",
    ):
        assert f'"{metric}"' in text
    runset = model["spec"]["section"]["runSets"][0]
    assert {
        "key": {"section": "run", "name": "group"},
        "op": "=",
        "value": "cpu_ablation",
        "disabled": False,
    } in runset["filters"]["filters"]
    grouping = {(g["section"], g["name"]) for g in runset["grouping"]}
    assert {
        ("config", "alpha.value"),
        ("config", "beta.value"),
        ("config", "lr.value"),
        ("run", "jobType"),
    } <= grouping
    panels = model["spec"]["section"]["panelBankConfig"]["sections"][0]["panels"]
    assert {p["config"]["xAxis"] for p in panels} == {"step"}


def test_report_has_one_panel_grid_per_family_present(sweep):
    report = wandb_views.build_report("ent", "proj", sweep.name, load_sweep(sweep))
    grids = [b for b in report.blocks if type(b).__name__ == "PanelGrid"]
    assert [g.runsets[0].name for g in grids] == [f.key for f in figures.FAMILIES]
    fig3 = grids[0].runsets[0]
    assert "id2" in str(fig3.filters) and sweep.name in str(fig3.filters)
    assert fig3.groupby == ["beta", "lr"]


def test_run_tags_name_the_swept_values():
    cfg = {
        "objective": {"name": "redi", "alpha": 0.8},
        "alpha": 0.8,
        "beta": None,
        "gamma": None,
        "lr": 1e-6,
        "seed": 42,
        "sweep": {"name": "cpu_ablation"},
    }
    assert wandb_views.run_tags(cfg) == [
        "objective:redi",
        "alpha:0.8",
        "lr:1e-6",
        "seed:42",
        "sweep:cpu_ablation",
    ]


def test_views_command_saves_nothing_when_wandb_is_unreachable(monkeypatch, capsys):
    monkeypatch.setattr(wandb_views, "wandb_reachable", lambda: (False, "no network"))
    saved = []
    import wandb_workspaces.workspaces as ws

    monkeypatch.setattr(ws.Workspace, "save", lambda self: saved.append(self))
    assert wandb_views.main(["--entity", "ent", "--group", "g"]) == 2
    assert saved == [] and "not reachable" in capsys.readouterr().err


def test_views_command_saves_the_workspace_when_wandb_answers(monkeypatch, capsys):
    monkeypatch.setattr(wandb_views, "wandb_reachable", lambda: (True, "someone"))
    saved = []
    import wandb_workspaces.workspaces as ws

    monkeypatch.setattr(ws.Workspace, "save", lambda self: saved.append(self) or self)
    assert wandb_views.main(["--entity", "ent", "--group", "g", "--kind", "workspace"]) == 0
    assert len(saved) == 1 and saved[0].runset_settings.filters


def test_views_dry_run_prints_the_workspace(capsys):
    assert wandb_views.main(["--entity", "ent", "--group", "g", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["displayName"] == "g: collapse panels"


# ---------------------------------------------------------------------------------------------------------------
# the stored notebooks


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_and_stored_without_outputs(script):
    ipynb = script.with_suffix(".ipynb")
    stored = nbformat.read(ipynb, as_version=4)
    for cell in stored.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{ipynb.name} has outputs: run nbstripout"
            )
    from_script = jupytext.read(script)
    assert [c.source for c in stored.cells] == [c.source for c in from_script.cells], (
        f"{ipynb.name} out of sync: jupytext --sync"
    )
    params = [c for c in stored.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].source.splitlines()[-1].startswith("sweep = ")


def test_there_is_a_notebook_per_figure_family():
    assert {p.stem for p in NOTEBOOKS} == {
        "fig3_4_dpo",
        "fig5_simpo",
        "fig6_symmetric",
        "fig7_alpha",
        "stability_summary",
        "table2",
    }


@pytest.mark.parametrize("logged", ["nothing", "training steps only"])
def test_command_draws_a_sweep_whose_member_failed_after_starting(sweep, logged, capsys):
    """Issue 24 item 11: a member that failed after it started (status failed, config written, no evaluation)
    used to end redi analyze in a KeyError in collapse_figure; its figures and tables are now written."""
    from fake_sweep import write_run

    failed = sweep / "alpha=0.5,lr=0.0001,objective=redi"
    write_run(failed, "redi", {"alpha": 0.5}, 1e-4, None)
    rows = [] if logged == "nothing" else [{"step": s, "train/logps_chosen": -0.1} for s in (1, 2, 3)]
    (failed / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (failed / "status.json").write_text(json.dumps({"state": "failed", "step": 3, "objective": "redi"}))
    assert analysis_main([str(sweep)]) == 0
    out = sweep / "analysis"
    assert {"fig7_alpha.png", "stability.png", "summary.md", "gains.md"} <= {p.name for p in out.iterdir()}
    summary = pd.read_csv(out / "summary.csv").set_index("run")
    assert summary.loc["alpha=0.5,lr=0.0001,objective=redi", "status"] == "failed"
