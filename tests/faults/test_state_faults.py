"""Faults in the run directory's state, in-process on real files: metrics.jsonl rewritten to the resumed step,
a malformed line, the run-directory lock (two holders, a killed holder), a full disk (a small tmpfs), W&B failing."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from redi.infra.checkpoint import latest_checkpoint, save_checkpoint
from redi.infra.lock import RunLock, RunLockedError
from redi.infra.state_io import write_tensors
from redi.infra.status import Status, atomic_write_text
from redi.infra.tracking import MetricsFile, Tracker
from redi.infra.wandb_names import resolve_wandb_mode

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def tiny():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


def write_rows(path: Path, steps) -> list[dict]:
    rows = [{"step": s, "train/loss": 1.0 / (s + 1)} for s in steps]
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return rows


def test_a_restart_without_a_checkpoint_starts_metrics_over(tmp_path):
    """Killed after the step-0 evaluation (or during the first checkpoint write): no rows survive to be doubled."""
    write_rows(tmp_path / "metrics.jsonl", [0, 1, 2])
    (tmp_path / "checkpoints" / ".step_4.abc").mkdir(parents=True)  # a checkpoint write that was cut
    Tracker(tmp_path)
    assert (tmp_path / "metrics.jsonl").read_text() == ""


def test_a_restart_cuts_metrics_back_to_the_checkpoint(tmp_path):
    rows = write_rows(tmp_path / "metrics.jsonl", range(0, 7))
    model, opt, sched = tiny()
    save_checkpoint(tmp_path / "checkpoints", 4, model, opt, sched, {}, keep=2)
    Tracker(tmp_path)
    assert MetricsFile(tmp_path / "metrics.jsonl").read() == rows[:5]


def test_a_deleted_latest_pointer_still_resumes_from_the_newest_step(tmp_path):
    rows = write_rows(tmp_path / "metrics.jsonl", range(0, 9))
    model, opt, sched = tiny()
    for s in (4, 6):
        save_checkpoint(tmp_path / "checkpoints", s, model, opt, sched, {}, keep=2)
    (tmp_path / "checkpoints" / "latest").unlink()
    Tracker(tmp_path)
    assert MetricsFile(tmp_path / "metrics.jsonl").read() == rows[:7]


def test_a_malformed_line_in_the_middle_keeps_every_valid_row(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    rows = write_rows(path, range(0, 21))
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(8, '{"step": 8, "train/lo\n')
    path.write_text("".join(lines))
    assert MetricsFile(path).read() == rows
    MetricsFile(path).truncate_after(20)
    assert MetricsFile(path).read() == rows and len(path.read_text().splitlines()) == 21
    assert (tmp_path / "metrics.rejected.jsonl").read_text() == '{"step": 8, "train/lo\n'
    assert "line 9" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# the run-directory lock


def _hold(run_dir: str, ready, release) -> None:
    with RunLock(Path(run_dir)):
        ready.set()
        release.wait(60)


def test_a_second_holder_is_told_who_has_it_and_a_waiter_gets_it_after(tmp_path):
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    with pytest.raises(RunLockedError) as err:
        RunLock(tmp_path).acquire()
    assert f"pid {holder.pid} on host {os.uname().nodename}" in str(err.value)
    assert "trainer.wait_for_lock=true" in str(err.value)
    release.set()
    with RunLock(tmp_path, wait=True):  # waits for the holder to end, then owns the directory
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    holder.join(30)
    assert not (tmp_path / ".lock").exists()  # removed when its holder ended


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(tmp_path, caplog):
    """The holder removes .lock as it ends; the waiter that had opened it must not own a file nobody else sees."""
    import threading

    first = RunLock(tmp_path).acquire()
    waiter = RunLock(tmp_path, wait=True)
    started = threading.Thread(target=waiter.acquire)
    with caplog.at_level("WARNING", logger="redi.infra.lock"):
        started.start()  # opens the file the first holder locked and waits for it
        deadline = time.time() + 30
        while not any("waiting for" in r.getMessage() for r in caplog.records) and time.time() < deadline:
            time.sleep(0.01)
    first.release()  # removes .lock, then unlocks: the waiter wakes on the removed file
    started.join(30)
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    with pytest.raises(RunLockedError):  # the waiter holds the lock of the file the path names now
        RunLock(tmp_path).acquire()
    waiter.release()
    assert not (tmp_path / ".lock").exists()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    code = f"from redi.infra.lock import RunLock; import time; RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "held"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == proc.pid  # its name is still in the file
    with RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()


# ---------------------------------------------------------------------------------------------------------------
# a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only; skipped with the reason elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_keeps_the_last_checkpoint_and_the_status(small_disk):
    model, opt, sched = tiny()
    save_checkpoint(small_disk / "checkpoints", 2, model, opt, sched, {}, keep=3)
    Status(small_disk).update(state="running", step=2)
    (small_disk / "filler").write_bytes(b"\0" * (2 * 2**20 - 64 * 1024))  # leave less than a checkpoint
    big = torch.nn.Linear(256, 256)
    big_opt = torch.optim.AdamW(big.parameters())
    big(torch.randn(1, 256)).sum().backward()
    big_opt.step()
    with pytest.raises(OSError):
        save_checkpoint(small_disk / "checkpoints", 4, big, big_opt, sched, {}, keep=3)
    assert latest_checkpoint(small_disk / "checkpoints") == small_disk / "checkpoints" / "step_2"
    assert not list((small_disk / "checkpoints").glob(".step_*"))
    with pytest.raises(OSError):
        atomic_write_text(small_disk / "status.json", "x" * 2**20)
    assert Status(small_disk).data["step"] == 2 and not list(small_disk.glob(".status.json.*"))


def test_a_run_ending_on_a_full_disk_keeps_its_own_error(small_disk, caplog):
    """The end cannot be recorded (status.json does not fit): logged, and the run's error is the one raised."""
    from redi.infra.session import _record_end
    from redi.run import _disk_full

    Status(small_disk).update(state="running", step=2)
    (small_disk / "filler").write_bytes(b"\0" * (2 * 2**20 - 64 * 1024))
    _record_end(Status(small_disk), state="failed", reason="x" * 2**20)
    assert Status(small_disk).state == "running" and "could not record the run's end (failed)" in caplog.text
    with pytest.raises(OSError) as err:  # 1 MB of tensors, 64 KB left
        write_tensors({"w": torch.zeros(2**18)}, small_disk / "t.safetensors")
    assert _disk_full(err.value) and not _disk_full(ValueError("no"))


# ---------------------------------------------------------------------------------------------------------------
# W&B failing


KW = {"project": "redi-faults", "entity": None, "group": None, "job_type": "test", "name": None, "tags": [],
      "config": {}, "run_id": None}  # fmt: skip


def test_online_without_a_key_falls_back_to_offline_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_MODE", "online")
    tracker = Tracker(tmp_path)
    assert tracker.start_wandb(mode="online", **KW) is not None and tracker.mode == "offline"
    tracker.log({"train/loss": 1.0}, step=1)
    tracker.finish()
    (warning,) = Status(tmp_path).data["warnings"]
    assert "W&B could not start (online: UsageError" in warning and "W&B is offline for this run" in warning
    assert MetricsFile(tmp_path / "metrics.jsonl").read() == [{"step": 1, "train/loss": 1.0}]


def test_an_empty_wandb_mode_counts_as_unset_with_one_line(tmp_path, monkeypatch, caplog):
    """``WANDB_MODE= redi run``: W&B offline (no credentials), said in one line, not a pydantic ValidationError."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_MODE", "")
    with caplog.at_level("WARNING", logger="redi.infra.wandb_names"):
        mode = resolve_wandb_mode(None)
    assert mode == "offline" and "WANDB_MODE" not in os.environ
    assert [r.getMessage() for r in caplog.records] == [
        "WANDB_MODE is set but empty: treated as unset (W&B offline for this run)"
    ]
    tracker = Tracker(tmp_path)
    assert tracker.start_wandb(mode=mode, **KW) is not None and tracker.mode == "offline"
    tracker.finish()
    assert "warnings" not in Status(tmp_path).data  # W&B started as asked: nothing fell back


def test_an_unreachable_server_falls_back_to_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # a closed local port
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "5")
    monkeypatch.setenv("HOME", str(tmp_path))
    tracker = Tracker(tmp_path)
    tracker.start_wandb(mode="online", **KW)
    assert tracker.mode == "offline"  # the time it took is recorded by the catalogue, not asserted
    tracker.finish()
    assert "W&B could not start (online: CommError" in Status(tmp_path).data["warnings"][0]


def test_the_wandb_service_killed_mid_run_turns_wandb_off_and_keeps_every_row(tmp_path):
    tracker = Tracker(tmp_path)
    tracker.start_wandb(mode="offline", **KW)
    tracker.log({"train/loss": 1.0}, step=1)
    children = subprocess.run(["pgrep", "-P", str(os.getpid()), "wandb-core"], capture_output=True, text=True)
    pids = [int(p) for p in children.stdout.split()]
    if not pids:
        pytest.skip("no wandb-core child process to kill (this W&B version runs its service differently)")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    for step in range(2, 6):
        tracker.log({"train/loss": 1.0 / step}, step=step)
    tracker.summary({"state": "completed"})
    tracker.finish()
    assert [r["step"] for r in MetricsFile(tmp_path / "metrics.jsonl").read()] == [1, 2, 3, 4, 5]
    warnings = Status(tmp_path).data["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("W&B failed at step 2 (log:")
    assert tracker.mode == "disabled"


@pytest.fixture(autouse=True)
def _fresh_wandb_service():
    """Each test here ends the W&B service it used: one of them kills it, and later tests must not meet a dead one."""
    yield
    import wandb

    with contextlib.suppress(Exception):  # the service may already be dead: that is the point
        wandb.teardown()
    os.environ.pop("WANDB_SERVICE", None)
