"""Controls by default through ``hydra/launcher=slurm``: the alpha sweep's control is one more array task, and the
sweep ends with the paired table beside the members table, on a real local SLURM cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SMOKE = [
    "experiment=smoke",
    "trainer.progress_bar=false",
    "trainer.threads=1",
    "trainer.max_steps=2",
    "eval.every_n_steps=0",
    "logger=off",
]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=debug", "hydra.launcher.cpus_per_task=1"]


def test_an_alpha_sweep_on_slurm_gets_its_control_and_the_paired_table(slurm, tmp_path):
    args = [
        "-m",
        *SMOKE,
        *SLURM,
        "control=true",
        "alpha=0.2,0.8",
        "sweep.name=ctl",
        f"paths.runs_dir={tmp_path}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sweep = tmp_path / "sweeps" / "ctl"
    members = pd.read_csv(sweep / "members.tsv", sep="\t", dtype=str)
    assert len(members) == 3 and (members["state"] == "completed").all()
    assert members["job_id"].str.match(r"^\d+_\d$").all()  # three tasks of one array job
    assert "alpha=0.0" in members["overrides"].iloc[0]
    gains = pd.read_csv(sweep / "gains.csv")
    assert sorted(gains["config"]) == ["REDI alpha=0.2, lr=2e-5", "REDI alpha=0.8, lr=2e-5"]
    assert (gains["replicates"] == 1).all()
    assert "paired gains over the alpha = 0 control" in proc.stdout
