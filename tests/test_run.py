"""End to end through the real entry point on the tiny model: a run, resume after a kill, sweeps, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = ["experiment=smoke", "trainer.progress_bar=false"]
TIMING_KEYS = {"train/tokens_per_s"}

pytestmark = pytest.mark.slow


def redi_run(
    *args: str, cwd: Path, check: bool = True, env_extra: dict | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"redi.run {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def named_dir(cwd: Path, *overrides: str, kind: str = "single") -> Path:
    """The run directory redi names for ``overrides`` (runs/single/<objective>_<tokens>_h<hash>)."""
    from redi.infra.run_names import run_name

    groups = ["model", "data", "trainer", "eval", "logger", "experiment", "sweep"]
    return cwd / "runs" / kind / run_name("redi", list(overrides), groups)


def test_single_run_writes_the_run_directory(tmp_path):
    run_dir = named_dir(tmp_path, *SMOKE)
    proc = redi_run(*SMOKE, cwd=tmp_path)  # off a terminal (captured): progress comes as log lines
    assert "status: completed" in proc.stdout
    assert f"run directory: {run_dir}" in proc.stdout
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == 8
    assert (
        status["collapse_rule"] == "relative" and status["collapsed"] is False
    )  # the rule's verdict, recorded
    # the gain over the starting model, paired on the same problems: the per-problem files give the same number
    from redi.eval.paired import run_gain

    gain = run_gain(run_dir, 8)["synthetic"]
    assert status["final_metrics"]["gain/synthetic/pass@1"] == pytest.approx(gain.gain)
    assert status["final_metrics"]["gain/synthetic/pass@1_se"] == pytest.approx(gain.se)
    assert f"gain over the starting model (same problems): synthetic {100 * gain.gain:+.1f} ± " in proc.stdout
    assert (run_dir / ".hydra" / "config.yaml").exists()
    rows = metrics(run_dir)
    train_keys = set().union(*(r.keys() for r in rows if "train/loss" in r))
    for key in (
        "train/loss",
        "train/lr",
        "train/grad_norm",
        "train/update_norm",
        "train/logps_chosen",
        "train/logps_rejected",
        "train/logps_chosen_per_token",
        "train/logps_rejected_per_token",
        "train/rewards_chosen",
        "train/rewards_rejected",
        "train/margin",
        "train/reward_accuracy",
        "train/tokens_per_s",
    ):
        assert key in train_keys, key
    assert [r["step"] for r in rows if "train/loss" in r] == list(range(1, 9))
    eval_steps = [r["step"] for r in rows if "eval/synthetic/pass@1" in r]
    assert eval_steps == [0, 4, 8]
    assert (run_dir / "eval" / "step_8.jsonl").exists()
    assert (run_dir / "model" / "config.json").exists() and (run_dir / "model" / "tokenizer.json").exists()
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    # run.log ends with the summary the console got; the lock file went with the process that held it
    summary = proc.stdout[proc.stdout.index("redi: redi run completed") :].strip()
    assert summary.splitlines()[-1] in (run_dir / "run.log").read_text()
    assert "status: completed" in (run_dir / "run.log").read_text()
    assert not (run_dir / ".lock").exists()
    # a finished run is not run again
    again = redi_run(*reversed(SMOKE), cwd=tmp_path)  # the same overrides in another order: the same run
    assert "already finished earlier" in again.stdout
    assert metrics(run_dir) == rows
    # the index maps the short name to the overrides; progress lines for training, its phases and evaluation
    index = (tmp_path / "runs" / "index.tsv").read_text().splitlines()
    assert index[1].split("\t")[:3] == [run_dir.name, f"single/{run_dir.name}", " ".join(SMOKE)]
    out = proc.stdout
    assert "train: 8/8 steps (100%) loss" in out and "tok/s | elapsed" in out
    assert "data build: started" in out and "evaluation at step 8: done after" in out
    assert "stage 1 | train: 1/" in out or "stage 1: started" not in out  # stage 1 may come from the cache
    # the README's mode=eval on a run directory, typed as a user would (relative, from the summary's name)
    ev = redi_run(
        "mode=eval", f"model.init_from=runs/single/{run_dir.name}", *SMOKE, "eval.num_samples=1", cwd=tmp_path
    )
    assert (
        "status: completed" in ev.stdout and "accuracy of the result (pass@1, step 0): synthetic" in ev.stdout
    )


def test_killed_run_resumes_to_identical_metrics(tmp_path):
    common = [*SMOKE, "trainer.max_steps=24", "trainer.save_every=3", "eval.every_n_steps=8"]
    reference_dir, killed_dir = tmp_path / "uninterrupted", named_dir(tmp_path, *common)  # resume by name
    redi_run(*common, f"hydra.run.dir={reference_dir}", cwd=tmp_path)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "redi.run", *common],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = killed_dir / "checkpoints" / "latest"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if latest.exists() and latest.read_text().strip() != "step_3":  # a checkpoint past the first one
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    status = json.loads((killed_dir / "status.json").read_text())
    assert status["state"] == "running"
    wandb_id = status["wandb_run_id"]
    killed_at = max(r["step"] for r in metrics(killed_dir))
    assert 6 <= killed_at < 24

    redi_run(*common, cwd=tmp_path)
    status = json.loads((killed_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["resumed_from_step"] >= 6
    assert status["wandb_run_id"] == wandb_id  # the same W&B run continues
    assert len(list((killed_dir / "wandb").glob(f"offline-run-*/run-{wandb_id}.wandb"))) == 2
    assert comparable(metrics(killed_dir)) == comparable(metrics(reference_dir))


def test_sweep_shares_one_stage1_and_one_group(tmp_path):
    proc = redi_run(
        "-m",
        *SMOKE,
        "objective=redi",
        "alpha=0.2,0.8",
        "sweep.name=alphas",
        "trainer.max_steps=4",
        "eval.every_n_steps=0",
        cwd=tmp_path,
    )
    sweep = tmp_path / "runs" / "sweeps" / "alphas"
    runs = sorted(p.parent for p in sweep.glob("*/status.json"))
    members = ["eval.every_n_steps=0", "experiment=smoke", "objective=redi", "trainer.max_steps=4"]
    names = [named_dir(tmp_path, *members, f"alpha={a}", kind="sweeps/alphas").name for a in ("0.2", "0.8")]
    assert [p.name for p in runs] == names and names[0].startswith("redi_smoke_a0.2_h")
    for run in runs:
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "completed" and status["wandb_group"] == "alphas"
    # redi sync finds both members' offline W&B runs and the stage-1 run they started from (in the cache)
    from redi.infra.wandb_sync import find_runs

    stage1 = Path(json.loads((runs[0] / "status.json").read_text())["stage1_dir"])
    found = {p.parent.parent for p in find_runs([sweep])}
    assert set(runs) <= found and (stage1 in found or not (stage1 / "wandb").exists())
    # stage 1 was trained at most once in this test session (reused by both members)
    assert proc.stdout.count("stage 1: training") + proc.stderr.count("stage 1: training") <= 1


def test_dpo_sweep_computes_reference_logps_once(tmp_path):
    proc = redi_run(
        "-m",
        *SMOKE,
        "objective=dpo",
        "beta=0.01,0.1",
        "sweep.name=dpo",
        "trainer.max_steps=2",
        "eval.every_n_steps=0",
        "eval.at_end=false",
        "eval.at_start=false",
        cwd=tmp_path,
        env_extra={
            "REDI_CACHE_DIR": str(tmp_path / "cache")
        },  # its own cache: nothing computed by other tests
    )
    log = proc.stdout + proc.stderr
    assert log.count("reference log-probs: computed") == 1, log[-3000:]
    assert log.count("reference log-probs: reused") == 1


def test_bad_override_fails_fast_naming_the_key(tmp_path):
    proc = redi_run(*SMOKE, "objective=sft", "alpha=0.5", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "alpha=0.5: objective 'sft' does not use this key" in proc.stderr
    assert not (tmp_path / "runs").exists()  # a rejected config leaves no run directory behind


def test_an_unreachable_hub_id_fails_in_seconds_with_one_line(tmp_path):
    """HF_HUB_OFFLINE=1 (as here) or no network: one line naming the key and id and how to use a local copy."""
    proc = redi_run(
        "model.init_from=Qwen/Qwen2.5-Math-1.5B",
        cwd=tmp_path,
        check=False,
        env_extra={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-hub")},
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [errors[0]] and errors[0].startswith(
        "redi: error: model.init_from='Qwen/Qwen2.5-Math-1.5B': HF_HUB_OFFLINE=1 and it is not in the local cache."
    )
    assert (
        "hf download Qwen/Qwen2.5-Math-1.5B --local-dir DIR" in errors[0]
        and "model.init_from=DIR" in errors[0]
    )
    # no network (an endpoint that refuses connections) and not offline: the same one line, from the probe
    proc = redi_run(
        "model.base=Qwen/Qwen2.5-Math-1.5B",
        cwd=tmp_path,
        check=False,
        env_extra={
            "HF_HUB_OFFLINE": "0",
            "TRANSFORMERS_OFFLINE": "0",
            "HF_ENDPOINT": "http://127.0.0.1:9",
            "HF_HUB_CACHE": str(tmp_path / "empty-hub"),
        },  # fmt: skip
    )
    assert proc.returncode == 2
    assert (
        "model.base='Qwen/Qwen2.5-Math-1.5B': the Hugging Face hub is unreachable: cannot connect to 127.0.0.1:9"
        in proc.stderr
    )
    assert not (tmp_path / "runs").exists()


def test_diverged_run_ends_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    proc = redi_run(
        *SMOKE,
        "objective=symmetric",
        "lr=1e30",
        "trainer.max_grad_norm=0",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        check=False,
    )
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "diverged", (status, proc.stderr[-2000:])
    assert proc.returncode == 0


def test_a_failed_run_leaves_its_traceback_in_run_log(tmp_path):
    """A crash that is not the user's input: Hydra prints the traceback; run.log and status.json keep it."""
    run_dir = tmp_path / "run"
    cache = tmp_path / "cache"
    cache.write_text("a file where the run keeps its cache\n")  # (a run directory holding a file is refused)
    proc = redi_run(
        *SMOKE,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        check=False,
        env_extra={"REDI_CACHE_DIR": str(cache)},
    )
    assert proc.returncode == 1
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and "Traceback" in status["traceback"]
    log = (run_dir / "run.log").read_text()
    error = status["traceback"].strip().splitlines()[-1]  # e.g. NotADirectoryError: [Errno 20] ...
    assert "redi: run failed:\nTraceback (most recent call last):" in log and error in log, log[-3000:]
    assert not (run_dir / ".lock").exists()
