"""End to end: a real (smoke-scale) sweep through redi.run, then every notebook headless and the figure command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "analysis").glob("*.ipynb"))
FIGURE_NOTEBOOKS = {
    "fig3_4_dpo": 2,
    "fig5_simpo": 1,
    "fig6_symmetric": 1,
    "fig7_alpha": 1,
    "stability_summary": 1,
}

pytestmark = pytest.mark.slow


def _env(tmp_path_factory) -> dict[str, str]:
    cache = (
        tmp_path_factory.getbasetemp() / "redi-cache"
    )  # the session's cache (tests/conftest.py): one stage 1
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "REDI_CACHE_DIR": str(cache),
        "HF_DATASETS_CACHE": str(cache / "hf-datasets"),
    }


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory) -> Path:
    """One sweep with a member of every figure family: DPO, SimPO, symmetric (alpha = 1) and REDI (alpha = 0.8)."""
    root = tmp_path_factory.mktemp("analysis-e2e")
    args = [
        "-m",
        "experiment=smoke",
        "trainer.progress_bar=false",
        "objective=dpo,simpo,symmetric,redi",
        "trainer.max_steps=4",
        "eval.every_n_steps=2",
        "sweep.name=e2e",
        f"paths.runs_dir={root}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args],
        cwd=root,
        env=_env(tmp_path_factory),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    sweep = root / "sweeps" / "e2e"
    assert len(list(sweep.glob("*/status.json"))) == 4, proc.stderr[-4000:]
    return sweep


@pytest.fixture(scope="module")
def run_labels(smoke_sweep) -> dict[str, str]:
    from redi.analysis import load_sweep

    df = load_sweep(smoke_sweep)
    return dict(zip(df["run"], df["config"], strict=False))


def test_the_sweep_loads_with_every_config_column(smoke_sweep, run_labels):
    from redi.analysis import load_sweep, runs

    r = runs(load_sweep(smoke_sweep)).set_index("objective")
    assert sorted(r.index) == ["dpo", "redi", "redi", "simpo"]
    assert sorted(r.loc["redi", "alpha"]) == [0.8, 1.0]
    assert r.loc["dpo", "beta"] == 0.1 and pd.isna(r.loc["dpo", "alpha"])
    assert (r["status"].isin(["completed", "collapsed"])).all()
    assert sorted(run_labels.values())[-1].startswith("symmetric")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_on_the_sweep(notebook, smoke_sweep, run_labels, tmp_path, tmp_path_factory):
    import papermill

    out = tmp_path / notebook.name
    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"sweep": str(smoke_sweep)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        log_output=False,
    )
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == FIGURE_NOTEBOOKS.get(notebook.stem, 0)
    text = "\n".join(
        str(o.get("data", {}).get("text/markdown", "")) + str(o.get("text", "")) for o in outputs
    )
    assert "4 runs" in text
    if notebook.stem in ("stability_summary", "table2"):
        for label in run_labels.values():
            assert label in text, f"{label} missing from {notebook.name}"


def test_command_writes_figures_and_tables_for_every_run(smoke_sweep, run_labels, tmp_path_factory):
    proc = subprocess.run(
        [sys.executable, "-m", "redi.analysis", str(smoke_sweep)],
        env=_env(tmp_path_factory),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = smoke_sweep / "analysis"
    for name in ("fig3_dpo", "fig4_dpo_lr", "fig5_simpo", "fig6_symmetric", "fig7_alpha", "stability"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["run"]) == sorted(run_labels)
    table2 = (out / "table2.md").read_text()
    for label in [*run_labels.values(), "stage 1 (start)"]:
        assert label in table2
    assert (out / "summary.md").read_text().count("\n") == 2 + len(run_labels)
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["run"]) == set(run_labels) and curves["train/logps_chosen_per_token"].notna().any()
