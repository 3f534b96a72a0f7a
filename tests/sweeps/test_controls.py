"""Every preference run gets its alpha = 0 control: as a sweep member (once per lr and seeds), or beside a single run;
the sweep ends with the paired table beside members.tsv, the single run with its gain over the control."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

import redi.run  # noqa: F401  (schemas, resolvers)
from redi.sweeps.controls import WAIT, add_controls, control_overrides, identity, is_control, wants_control

CONF = Path(__file__).resolve().parents[2] / "conf"
SMOKE = ["experiment=smoke", "trainer.progress_bar=false", "logger=off"]


def composed(job: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(job), return_hydra_config=True)


@pytest.mark.parametrize(
    ("overrides", "control"),
    [
        (["alpha=0.8", "lr=1e-4", "seed=1"], ["lr=1e-4", "seed=1", "objective=redi", "alpha=0.0"]),
        (["objective=dpo", "beta=0.1", "lr=1e-6"], ["lr=1e-6", "objective=redi", "alpha=0.0"]),
        (["objective=rpo", "nll_weight=2", "data.builder.swap_pairs=true"], ["objective=redi", "alpha=0.0"]),
        (["objective=simpo", "objective.name=simpo", "+gamma=1", "stage1.seed=43"],
         ["stage1.seed=43", "objective=redi", "alpha=0.0"]),
    ],
)  # fmt: skip
def test_the_controls_overrides_keep_everything_but_the_objective(overrides, control):
    assert control_overrides(overrides) == control


def test_who_wants_a_control():
    assert wants_control(composed(["alpha=0.8"]))
    assert wants_control(composed(["objective=dpo", "beta=0.1"]))
    assert wants_control(composed(["alpha=0.0", "data.builder.swap_pairs=true"]))  # a label inversion
    assert not wants_control(composed(["alpha=0.0"])) and is_control(composed(["alpha=0"]))
    assert not wants_control(composed(["objective=sft"]))
    assert not wants_control(composed(["alpha=0.8", "control=false"]))
    assert not wants_control(composed(["alpha=0.8", "mode=eval"]))


def test_a_sweep_gets_one_control_per_lr_and_seed_first():
    jobs = [[f"alpha={a}", f"lr={lr}", "seed=1"] for lr in ("1e-4", "1e-5") for a in ("0.2", "0.8")]
    out = add_controls(jobs, composed)
    assert out[2:] == jobs
    assert out[:2] == [
        ["lr=1e-4", "seed=1", "objective=redi", "alpha=0.0", WAIT],
        ["lr=1e-5", "seed=1", "objective=redi", "alpha=0.0", WAIT],
    ]


def test_a_control_the_sweep_has_already_is_not_added_again():
    jobs = [["alpha=0", "lr=1e-4"], ["alpha=0.8", "lr=1e-4"], ["objective=dpo", "beta=0.1", "lr=1e-4"]]
    assert add_controls(jobs, composed) == jobs
    assert identity(composed(["alpha=0"])) == identity(composed(["objective=redi", "alpha=0.0", WAIT]))
    assert add_controls([["alpha=0.8", "control=false"]], composed) == [["alpha=0.8", "control=false"]]


def _redi(args: list[str], cwd: Path, cache: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDI_CACHE_DIR": str(cache), **extra_env}
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_the_users_alpha_sweep_ends_with_a_paired_table_against_its_control(tmp_path, tmp_path_factory):
    """``-m objective=redi alpha=0.2,0.8`` (as the README's sweep, at smoke scale): the control runs first, then
    members.tsv and gains.md (2 rows, each paired with it on the same problems) are written and printed."""
    cache = tmp_path_factory.getbasetemp() / "redi-cache"
    args = ["-m", *SMOKE, "control=true", "objective=redi", "alpha=0.2,0.8", "trainer.max_steps=2",
            "eval.every_n_steps=0", "sweep.name=ctl"]  # fmt: skip
    proc = _redi(args, tmp_path, cache)
    sweep = tmp_path / "runs" / "sweeps" / "ctl"
    members = pd.read_csv(sweep / "members.tsv", sep="\t")
    assert len(members) == 3 and (members["state"] == "completed").all()
    assert "alpha=0.0" in members["overrides"].iloc[0]
    gains = pd.read_csv(sweep / "gains.csv")
    assert sorted(gains["config"]) == ["REDI alpha=0.2, lr=2e-5", "REDI alpha=0.8, lr=2e-5"]
    assert (gains["replicates"] == 1).all() and (gains["problems"] == 24).all()
    assert "paired gains over the alpha = 0 control" in proc.stdout
    assert (
        "| REDI alpha=0.8, lr=2e-5 | 1 |" in proc.stdout and (sweep / "gains.md").read_text() in proc.stdout
    )


@pytest.mark.slow
def test_a_single_run_trains_its_control_beside_it_and_prints_the_gain(tmp_path, tmp_path_factory):
    """The run's summary names the control's directory and the paired gain over it; a rerun finds both finished."""
    cache = tmp_path_factory.getbasetemp() / "redi-cache"
    args = [*SMOKE, "control=true", "trainer.max_steps=2", "eval.every_n_steps=0"]
    proc = _redi(args, tmp_path, cache)
    control_dir = next((tmp_path / "runs" / "single").glob("redi_smoke_a0.0*"))
    assert (
        f"control (objective=redi alpha=0, same stage 1, lr, seeds and batches): {control_dir}" in proc.stdout
    )
    assert (
        "gain over the control (same problems): synthetic +0.0 ± 0.0 points (paired SE, 24 problems"
        in proc.stdout
    )
    assert '"state": "completed"' in (control_dir / "status.json").read_text()
    # the rerun prints both summaries again without starting the control or importing torch (-X importtime)
    again = _redi(args, tmp_path, cache, PYTHONPROFILEIMPORTTIME="1")
    assert "already finished earlier" in again.stdout
    assert (
        proc.stdout[proc.stdout.index("  control (") :] == again.stdout[again.stdout.index("  control (") :]
    )
    imported = {
        line.split("|")[-1].strip() for line in again.stderr.splitlines() if line.startswith("import time:")
    }
    assert "hydra" in imported and "torch" not in imported and "datasets" not in imported
    assert "control: objective=redi alpha=0.0 in" not in again.stdout + again.stderr


def test_the_main_job_is_the_default_with_its_control_and_named_sweeps_keep_the_bare_defaults():
    """`python -m redi.run` composes the calibrated main job (README, "The main job"); a named sweep selects
    experiment=none, so the main job's settings never leak into it; experiment=smoke wins over a sweep's choice."""
    main = composed([])
    assert (main.experiment.name, main.data.synthetic.task, main.objective.name, main.alpha) == (
        "main",
        "shortcut",
        "redi",
        0.8,
    )
    assert (main.lr, main.trainer.max_steps, main.control, main.eval.benchmarks.synthetic.limit) == (
        3e-5,
        60,
        True,
        500,
    )
    assert wants_control(main)
    for sweep in ("cpu_fig6_symmetric", "fair_ablation", "cpu_ablation"):
        cfg = composed([f"sweep={sweep}"])
        assert cfg.experiment.name == "default" and cfg.lr == 2e-5
    assert composed(["sweep=cpu_fig6_symmetric", "experiment=smoke"]).experiment.name == "smoke"
    assert composed(["sweep=cpu_ablation"]).data.synthetic.task == "column"
