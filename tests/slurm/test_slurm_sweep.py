"""A two-member sweep of ``python -m redi.run`` through ``hydra/launcher=slurm`` on a real local SLURM cluster.

The long member is stopped mid-run by the signal SLURM sends before a time limit (SIGUSR2, sent by the test at a
known step so the test does not depend on slurmctld's 30-second timer or on how long start-up takes on a loaded
machine); submitit requeues it and it resumes from its run directory's checkpoint. It must end with the metrics of
an uninterrupted run of the same config, in the same W&B run. The short member completes beside it. (A member with a
bad value is refused before anything is submitted, tests/test_as_typed.py; a member that fails at run time fails
alone, tests/slurm/test_multinode.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from redi.sweeps.table import read_table
from tests.slurm import members

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TIMING_KEYS = {"train/tokens_per_s"}
# the smoke experiment (231 pairs, 28 steps per epoch), one thread per process so runs are bit-for-bit comparable,
# evaluation only at the end on 8 problems
COMMON = [
    "experiment=smoke",
    "trainer.progress_bar=false",
    "trainer.threads=1",
    "trainer.max_steps=-1",
    "trainer.save_every=25",
    "eval.every_n_steps=0",
    "eval.at_start=false",
    "eval.benchmarks.synthetic.limit=8",
]
LONG, SHORT = "5", "0.25"  # trainer.epochs: 140 steps, 7 steps
PREEMPT_AFTER_STEP = (
    30  # past the first periodic checkpoint (25), so the resume is from the signal's own checkpoint
)
SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.cpus_per_task=1",
    # a time limit under 10 minutes makes submitit count any USR2 as a time-out (one of max_num_timeout requeues)
    "hydra.launcher.timeout_min=9",
    "hydra.launcher.signal_delay_s=60",
    "hydra.launcher.max_num_timeout=2",
]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def _sacct(job_id: str) -> list[tuple[str, ...]]:
    """(state, start, end) of every incarnation of a job, requeues included, once the last one has ended.

    The launcher can read a member's result a moment before SLURM records the end of its job, so wait for that.
    """
    while True:
        rows = _sacct_now(job_id)
        if rows and rows[-1][0] not in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED", "SUSPENDED"):
            return rows
        time.sleep(0.25)


def _sacct_now(job_id: str) -> list[tuple[str, ...]]:
    out = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-j", job_id, "-o", "JobID,State,Start,End"],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(line.split("|")[1:]) for line in out.stdout.splitlines() if line.split("|")[0] == job_id]


def _step(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / "status.json").read_text()).get("step") or 0)
    except (OSError, ValueError):
        return 0


def _wait_until(done: Callable[[], bool], *procs: subprocess.Popen) -> None:
    """Poll ``done`` until it holds; fail if one of ``procs`` exits first (the event can no longer happen)."""
    while not done():
        for p in procs:
            assert p.poll() is None, f"{p.args[:4]}... exited with {p.returncode} first"
        time.sleep(0.25)


def test_sweep_requeues_and_resumes_a_preempted_member(slurm, tmp_path):
    cluster, releaser = slurm
    t0 = time.monotonic()
    runs = tmp_path / "runs"
    reference_dir = tmp_path / "uninterrupted"

    # the uninterrupted run of the long member's config, outside SLURM and at the lowest CPU priority so that it
    # only uses what the members leave idle; it first fills the stage-1 and data caches the members then reuse,
    # so the sweep starts once it has begun training
    reference = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "redi.run",
            *COMMON,
            f"trainer.epochs={LONG}",
            f"hydra.run.dir={reference_dir}",
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: os.nice(19),
    )
    _wait_until(lambda: _step(reference_dir) > 0, reference)

    # sweep.name is left to its default (named after the command line): the requeued member must find the same
    # sweep directory
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "redi.run",
            "-m",
            *COMMON,
            f"trainer.epochs={LONG},{SHORT}",
            *SLURM,
            f"paths.runs_dir={runs}",
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # preempt the long member mid-run: SIGUSR2 to its job step is what SLURM sends before a time limit
    # (--signal=USR2@signal_delay_s) and on preemption; submitit then checkpoints the call and requeues the job
    _wait_until(
        lambda: (
            (d := members.member_dir(runs, f"trainer.epochs={LONG}")) is not None
            and _step(d) >= PREEMPT_AFTER_STEP
        ),
        sweep,
    )
    long_dir = members.member_dir(runs, f"trainer.epochs={LONG}")
    assert long_dir is not None
    long_job = members.job_id(long_dir)
    subprocess.run(["scancel", "--signal=USR2", long_job], env=_env(), check=True)

    sweep_out, _ = sweep.communicate(timeout=1200)
    ref_out, _ = reference.communicate(timeout=900)
    wall_s = time.monotonic() - t0
    assert reference.returncode == 0, ref_out[-4000:]

    # the multirun ended after all members, with a table of members
    assert sweep.returncode == 0, sweep_out[-6000:]
    (sweep_dir,) = (runs / "sweeps").iterdir()
    table = {
        m.overrides.split("trainer.epochs=")[1].split()[0]: m for m in read_table(sweep_dir / "members.tsv")
    }
    assert sorted(table) == sorted([LONG, SHORT]), table
    assert table[LONG].state == "completed" and table[SHORT].state == "completed", table
    for m in table.values():
        assert m.job_id in sweep_out and Path(m.log).exists()
    assert table[LONG].job_id == long_job and Path(table[LONG].run_dir) == long_dir

    # the members were submitted as one array with the launcher's time limit and pre-limit signal
    (script,) = (sweep_dir / ".submitit").glob("*/*_submission.sh")
    sbatch = set(re.findall(r"#SBATCH (\S+)", script.read_text()))
    assert {
        "--array=0-1%2",
        "--partition=debug",
        "--time=9",
        "--signal=USR2@60",
        "--cpus-per-task=1",
    } <= sbatch

    # the long member was requeued (same job id, a REQUEUED then a COMPLETED incarnation in accounting) ...
    incarnations = _sacct(long_job)
    assert [state for state, *_ in incarnations] == ["REQUEUED", "COMPLETED"], incarnations
    submitit_log = (sweep_dir / ".submitit" / long_job / f"{long_job}_0_log.out").read_text()
    assert f"Requeued job {long_job}" in submitit_log
    # ... and resumed at the step where it saved its checkpoint on the signal
    run_log = (long_dir / "run.log").read_text()
    saved = [int(s) for s in re.findall(r"checkpoint saved at step (\d+)", run_log)]
    resumed = [int(s) for s in re.findall(r"resumed from \S+ at step (\d+)", run_log)]
    assert len(saved) == 1 and saved[0] >= PREEMPT_AFTER_STEP and resumed == saved, (saved, resumed)
    status = json.loads((long_dir / "status.json").read_text())
    reference_status = json.loads((reference_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["resumed_from_step"] == saved[0]
    assert status["step"] == reference_status["step"] > saved[0]

    # ... and finished with the metrics of the uninterrupted run, in one W&B run, in the same sweep directory
    assert _metrics(long_dir) == _metrics(reference_dir)
    wandb_runs = sorted((long_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and {p.name.rsplit("-", 1)[1] for p in wandb_runs} == {status["wandb_run_id"]}
    assert status["wandb_group"] == sweep_dir.name  # the sweep's name kept its value through the requeue

    # the short member ran to its end beside the others
    short = json.loads((Path(table[SHORT].run_dir) / "status.json").read_text())
    assert (
        0 < short["step"] < status["step"]
        and _metrics(Path(table[SHORT].run_dir))[-1]["step"] == short["step"]
    )

    report = {
        "wall_s": round(wall_s, 1),
        "cluster_start_s": round(cluster.start_seconds, 1),
        "long_member_job": long_job,
        "incarnations": incarnations,
        "checkpoint_saved_at_step": saved[0],
        "resumed_at_step": resumed[0],
        "released_after_requeue": releaser.released,
        "members": {k: (m.job_id, m.state) for k, m in table.items()},
    }
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
    print("\nSLURM sweep:", json.dumps(report, indent=2))
