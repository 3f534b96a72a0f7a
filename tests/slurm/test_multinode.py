"""Sweeps whose members are 2-node SLURM jobs (``hydra.launcher.nodes=2 tasks_per_node=1``) on the local cluster.

Rank 0 runs on node1 (127.0.0.2) and rank 1 on node2 (127.0.0.3), each in its node's namespaces
(tests/support/slurm_cluster.py). The global batch is 8 rows: micro 4 x accumulation 1 x 2 ranks, against one
process (run directly, without SLURM) with micro 4 x accumulation 2.

1. DDP and FSDP2 members train like one process (``assert_same_curves``); FSDP2's sharded checkpoint is written
   by the ranks on both nodes.
2. A member preempted mid-run (its tasks stopped with SIGSTOP so it cannot run to its end first, then
   ``scontrol requeue``: SLURM sends SIGCONT and SIGTERM, the run checkpoints at the next step and exits without
   a result) restarts with the same job id, resumes at the step of the checkpoint it left, ends with exactly the
   metrics of the uninterrupted DDP member of test 1, and logs to the same (offline) W&B run.
3. In the same sweep, a member whose rank on node2 is killed ends failed with a reason naming rank 1 and node2
   (in members.tsv and status.json) while the preempted member runs on; the multirun exits 1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from redi.sweeps.table import Member, read_table
from tests.distributed.helpers import assert_same_curves, metrics, run_env, train_rows
from tests.slurm import members

pytestmark = [pytest.mark.slurm, pytest.mark.distributed, pytest.mark.slow]

SMOKE = [
    "experiment=smoke",
    "objective=sft",
    "trainer.progress_bar=false",
    "trainer.threads=1",
    "trainer.micro_batch_size=4",
    "trainer.epochs=5",
    "trainer.save_every=4",
    "eval.every_n_steps=0",
    "eval.at_start=false",
    "eval.at_end=false",
]
# members are told apart by trainer.max_steps: the DDP member (and the preempted one, the same config) is long
# enough to be stopped mid-run (the tiny model takes about 0.1 s a step), the member that loses a node is killed
# at step 5 of 230, FSDP2 (one forward per micro-batch: trainer.forward=plain) runs 8 steps
DDP_STEPS, FSDP_STEPS, LOST_STEPS = "60", "8", "230"
FSDP = ["trainer.distributed=fsdp", "trainer.forward=plain"]
TWO_NODES = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.nodes=2",
    "hydra.launcher.tasks_per_node=1",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=15",
    "trainer.grad_accum_steps=1",
]
STOP_AT_STEP = 5  # after the first periodic checkpoint (step 4)


def _multirun(root: Path, name: str, cache: Path, *overrides: str, logger: str = "off") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "redi.run",
            "-m",
            *SMOKE,
            *TWO_NODES,
            f"logger={logger}",
            f"paths.runs_dir={root / 'runs'}",
            f"sweep.name={name}",
            *overrides,
        ],
        cwd=root,
        env=run_env(cache, {"WANDB_MODE": "offline"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _one_process(run_dir: Path, cache: Path, *overrides: str) -> subprocess.Popen:
    """The reference: one process with twice the accumulation, run directly (no SLURM)."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "redi.run",
            *SMOKE,
            "logger=off",
            "trainer.grad_accum_steps=2",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=run_dir.parent,
        env=run_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout_s: float = 900) -> str:
    out, _ = proc.communicate(timeout=timeout_s)
    return out


def _members(sweep_dir: Path) -> dict[str, Member]:
    """members.tsv by the member's max_steps."""
    return {
        m.overrides.split("trainer.max_steps=")[1].split()[0]: m
        for m in read_table(sweep_dir / "members.tsv")
    }


def _sacct(
    job_id: str, env: dict[str, str], fields: str = "State,Submit,Start,End,NodeList"
) -> list[list[str]]:
    """Every incarnation of a job (requeues included) once the last one has left the queue."""
    while True:
        out = subprocess.run(
            ["sacct", "-D", "-X", "-n", "-P", "-j", job_id, "-o", f"JobID,{fields}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [line.split("|")[1:] for line in out.splitlines() if line.split("|")[0] == job_id]
        if rows and rows[-1][0] not in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED"):
            return rows
        time.sleep(0.25)


def _submitit_hosts(logs: Path) -> list[str]:
    """hostname=... global_rank=...(n) of every task, from submitit's task logs."""
    found = re.findall(
        r"hostname=(\S+), .*global_rank=(\d+)\(", "".join(p.read_text() for p in logs.glob("*.out"))
    )
    return sorted(f"rank {r} on {h}" for h, r in set(found))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multinode-cache")


@pytest.fixture(scope="module")
def equality(slurm, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One sweep of a DDP and an FSDP2 member on two nodes, and their one-process references beside it."""
    root = tmp_path_factory.mktemp("multinode-equality")
    t0 = time.monotonic()
    refs = {
        "ddp": _one_process(root / "one-ddp", cache, f"trainer.max_steps={DDP_STEPS}"),
        "fsdp": _one_process(
            root / "one-fsdp", cache, "trainer.forward=plain", f"trainer.max_steps={FSDP_STEPS}"
        ),
    }
    member_overrides = f'["trainer.max_steps={DDP_STEPS}","{" ".join(FSDP)} trainer.max_steps={FSDP_STEPS}"]'
    sweep = _multirun(root, "equality", cache, f"hydra.sweeper.members={member_overrides}")
    out = _finish(sweep)
    assert sweep.returncode == 0, out[-6000:]
    for name, proc in refs.items():
        ref_out = _finish(proc)
        assert proc.returncode == 0, f"one-process {name}: {ref_out[-4000:]}"
    table = _members(root / "runs" / "sweeps" / "equality")
    print(f"\nmultinode equality sweep and references: {time.monotonic() - t0:.1f} s")
    return {
        "sweep_dir": root / "runs" / "sweeps" / "equality",
        "ddp": Path(table[DDP_STEPS].run_dir),
        "fsdp": Path(table[FSDP_STEPS].run_dir),
        "one-ddp": root / "one-ddp",
        "one-fsdp": root / "one-fsdp",
        "ddp-job": table[DDP_STEPS].job_id,
        "fsdp-job": table[FSDP_STEPS].job_id,
    }


def test_ddp_and_fsdp_on_two_nodes_match_one_process(equality: dict[str, Any], cache: Path) -> None:
    env = run_env(cache)
    sweep_dir = equality["sweep_dir"]
    figures = {}
    for kind in ("ddp", "fsdp"):
        run_dir, job = equality[kind], equality[f"{kind}-job"]
        log = (run_dir / "run.log").read_text()
        assert re.search(r"launched by SLURM: 2 nodes x 1 task \(node\[1-2\]\), rendezvous node1:\d+", log), (
            log
        )
        assert log.count("rows after tokenisation") == 1  # rank 0 alone writes run.log
        assert _submitit_hosts(sweep_dir / ".submitit" / job) == ["rank 0 on node1", "rank 1 on node2"]
        [(state, *_, nodes)] = _sacct(job, env)
        assert (state, nodes) == ("COMPLETED", "node[1-2]")
        one, two = train_rows(equality[f"one-{kind}"]), train_rows(run_dir)
        assert len({r["train/loss"] for r in one}) == len(one) > 1, "the curve must move"
        figures[kind] = assert_same_curves(one, two)
    assert [r["step"] for r in train_rows(equality["ddp"])] == list(range(1, int(DDP_STEPS) + 1))
    # FSDP2's sharded checkpoint: torch.distributed.checkpoint files and an RNG state from each node's rank
    step4 = equality["fsdp"] / "checkpoints" / "step_4"
    assert sorted(p.name for p in (step4 / "dcp").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert (step4 / "rng_rank0.json").exists() and (step4 / "rng_rank1.json").exists()
    print(f"\n2 nodes x 1 task vs 1 process, largest relative differences: {json.dumps(figures)}")


def _tasks(job_id: str, folder: Path) -> dict[int, int]:
    """{pid: rank} of the job's running tasks (python under srun), found by their submitit folder and job id."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = dict(
                item.split(b"=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item
            )
        except OSError:
            continue
        if not Path(argv[0].decode()).name.startswith("python") or str(folder).encode() not in b" ".join(
            argv
        ):
            continue
        array = (
            environ.get(b"SLURM_ARRAY_JOB_ID", b"").decode(),
            environ.get(b"SLURM_ARRAY_TASK_ID", b"").decode(),
        )
        ids = {environ.get(b"SLURM_JOB_ID", b"").decode(), "_".join(array)}
        if job_id in ids and b"SLURM_PROCID" in environ:
            found[int(proc.name)] = int(environ[b"SLURM_PROCID"])
    return found


def _rows(run_dir: Path) -> int:
    try:
        return sum(1 for _ in (run_dir / "metrics.jsonl").open())
    except OSError:
        return 0


def _preempt_and_kill(sweep: subprocess.Popen, root: Path, env: dict[str, str]) -> dict[str, object]:
    """At step 5: stop the DDP member's tasks and requeue its job; kill the other member's rank on node2.

    Returns what happened when (wall clock), the job ids and the checkpoint the preempted member left with.
    """
    runs, folder = root / "runs", root / "runs" / "sweeps" / "faults" / ".submitit"
    done: dict[str, object] = {}
    while not {"requeued", "killed"} <= done.keys():
        assert sweep.poll() is None, _finish(sweep)[-6000:]
        for key, steps in (("requeued", DDP_STEPS), ("killed", LOST_STEPS)):
            run_dir = members.member_dir(runs, f"trainer.max_steps={steps}")
            if key in done or run_dir is None or _rows(run_dir) < STOP_AT_STEP:
                continue
            job = members.job_id(run_dir)
            tasks = _tasks(job, folder)
            assert sorted(tasks.values()) == [0, 1], tasks
            if key == "requeued":
                for pid in tasks:
                    os.kill(pid, signal.SIGSTOP)
                done["stopped_at_step"] = _rows(run_dir)
                subprocess.run(["scontrol", "requeue", job], env=env, check=True)
            else:
                os.kill(next(pid for pid, rank in tasks.items() if rank == 1), signal.SIGKILL)
                done["killed_at_step"] = _rows(run_dir)
            done[key] = (job, time.strftime("%H:%M:%S"))
        time.sleep(0.05)
    # the preempted member's checkpoint once its tasks are gone, while its job waits to run again
    job = str(done["requeued"][0])  # type: ignore[index]
    while _tasks(job, folder):
        time.sleep(0.1)
    run_dir = members.member_dir(runs, f"trainer.max_steps={DDP_STEPS}")
    assert run_dir is not None
    done["checkpoint_left"] = int(
        (run_dir / "checkpoints" / "latest").read_text().strip().removeprefix("step_")
    )
    return done


def test_preempted_member_resumes_exactly_and_a_lost_node_fails_alone(
    slurm, equality: dict[str, Any], cache: Path, tmp_path: Path
) -> None:
    cluster, releaser = slurm
    env = run_env(cache)
    t0 = time.monotonic()
    sweep = _multirun(
        tmp_path, "faults", cache, f"trainer.max_steps={DDP_STEPS},{LOST_STEPS}", logger="wandb"
    )
    events = _preempt_and_kill(sweep, tmp_path, env)
    out = _finish(sweep)
    wall_s = time.monotonic() - t0

    # the multirun waited for both members and exits 1 for the failed one
    assert sweep.returncode == 1, out[-6000:]
    assert "1 of 2 sweep members did not finish" in out
    sweep_dir = tmp_path / "runs" / "sweeps" / "faults"
    table = _members(sweep_dir)
    preempted, lost = table[DDP_STEPS], table[LOST_STEPS]
    assert preempted.state == "completed", preempted

    # the member that lost its node: failed, and the reason says which rank on which node went away
    assert lost.state == "failed" and "rank 1 on node2" in lost.error, lost
    lost_status = json.loads((Path(lost.run_dir) / "status.json").read_text())
    assert lost_status["state"] == "failed" and "rank 1 on node2" in lost_status["reason"], lost_status
    [(lost_state, *_)] = _sacct(lost.job_id, env, "State")
    assert lost_state == "FAILED"

    # the preempted member: one job id, a REQUEUED then a COMPLETED incarnation
    job, run_dir = preempted.job_id, Path(preempted.run_dir)
    incarnations = _sacct(job, env)
    assert [row[0] for row in incarnations] == ["REQUEUED", "COMPLETED"], incarnations
    assert all(row[-1] == "node[1-2]" for row in incarnations)
    # ... resumed at the step of the checkpoint it left with, and logged the rows after it once
    log = (run_dir / "run.log").read_text()
    resumed = re.findall(r"\[(\d\d:\d\d:\d\d)\]\S* resumed from \S+ at step (\d+)", log)
    assert [int(step) for _, step in resumed] == [events["checkpoint_left"]], (resumed, events)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == int(DDP_STEPS)
    assert status["resumed_from_step"] == events["checkpoint_left"]
    # ... with exactly the metrics of the uninterrupted DDP member
    assert metrics(run_dir) == metrics(equality["ddp"])
    # ... in one W&B run (an offline directory per incarnation, one run id)
    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and {p.name.rsplit("-", 1)[1] for p in wandb_runs} == {status["wandb_run_id"]}
    saved = re.findall(r"\[(\d\d:\d\d:\d\d)\]\S* preemption signal: checkpoint saved at step (\d+)", log)

    report = {
        "wall_s": round(wall_s, 1),
        "cluster_start_s": round(cluster.start_seconds, 1),
        "preempted_job": job,
        "incarnations (state, submit, start, end, nodes)": incarnations,
        "stopped_and_requeued (job, time)": events["requeued"],
        "stopped_at_step": events["stopped_at_step"],
        "checkpoint_saved_on_sigterm (time, step)": saved,
        "checkpoint_left": events["checkpoint_left"],
        "resumed (time, step)": resumed,
        "released_after_requeue": releaser.released,
        "lost_node_member": (
            lost.job_id,
            events["killed"],
            events["killed_at_step"],
            lost_status["reason"][:200],
        ),
    }
    print("\nmultinode requeue and lost node:", json.dumps(report, indent=2))
