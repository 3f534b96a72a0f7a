"""Every ready sweep composes member by member; CPU twins validate fully; one twin runs end to end."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import redi.run  # noqa: F401  (schemas, resolvers)
from redi.objectives import get_objective
from redi.sweeps.members import expand
from redi.validate import objective_hyperparameters, validate

CONF = Path(__file__).resolve().parents[2] / "conf"
SWEEPS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml") if p.stem != "none")


def members_of(sweep: str) -> list[list[str]]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"sweep={sweep}"], return_hydra_config=True)
    members = list(cfg.hydra.sweeper.get("members") or [])
    params = cfg.hydra.sweeper.get("params") or {}
    grid = [[f"{k}={v}" for k, v in params.items()]] if params else [[]]
    return expand(members, grid)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_member_composes(sweep):
    jobs = members_of(sweep)  # [[]] for a sweep that takes its grid from the command line (sweeps/*.sh)
    for job in jobs:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"sweep={sweep}", *job])
        OmegaConf.to_container(cfg, resolve=True)
        objective_hyperparameters(cfg, get_objective(cfg.objective.name))  # ranges and unused keys
        if sweep.startswith("cpu_"):
            validate(cfg)  # the CPU twins must be runnable here as they are
        assert cfg.sweep.name == sweep


@pytest.mark.parametrize(
    "name",
    ["fig3_dpo_matched", "fig4_dpo_lr", "fig5_simpo", "fig6_symmetric", "fig7_alpha", "table2", "stage1"],
)
def test_each_paper_sweep_has_a_cpu_twin_with_the_same_shape(name):
    gpu, cpu = members_of(f"paper_{name}"), members_of(f"cpu_{name}")
    strip = lambda job: [o for o in job if not o.startswith("lr=")]  # noqa: E731
    assert [strip(j) for j in gpu] == [strip(j) for j in cpu]


def test_paper_grids_are_the_papers():
    assert members_of("paper_fig3_dpo_matched") == [
        ["beta=0.001", "lr=1e-6"],
        ["beta=0.01", "lr=1e-7"],
        ["beta=0.1", "lr=1e-8"],
    ]
    assert ["alpha=1.0", "lr=2e-7"] in members_of("paper_fig6_symmetric")
    assert len(members_of("paper_fig4_dpo_lr")) == 11


@pytest.mark.slow
def test_a_cpu_twin_runs(tmp_path):
    args = shlex.split(
        "sweep=cpu_fig6_symmetric experiment=smoke trainer.max_steps=2 eval.every_n_steps=0 eval.at_start=false "
        "eval.at_end=false logger=off sweep.name=twin"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "runs" / "sweeps" / "twin" / "members.tsv").read_text().splitlines()
    assert len(table) == 1 + 4 and all("\tcompleted\t" in row for row in table[1:])
