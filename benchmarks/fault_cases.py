"""The faults benchmarks/fault_trials.py injects into the real smoke run, one function per fault (issue 12).

Each takes the bench (the uninterrupted reference and where to work) and the trial's own random generator (seeded
from --seed, the fault and the trial number) and returns a Trial: the exit codes of every launch, the final status,
metrics.jsonl and the weights against the reference, the one line the user saw, the time to fail or finish.
The launching, waiting and comparing come from tests/faults/test_kills.py; the damage and the pickle payload from
tests/infra/test_checkpoint.py; the bad configs and data files from tests/faults/test_catalogue.py.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from tests.faults.test_kills import MOMENTS, launch, rows, wait_for, weights
from tests.infra.test_checkpoint import DAMAGE, _Payload


@dataclass
class Trial:
    """How one trial ended."""

    codes: list[int]  # every launch's exit code, in order (-9: killed by the fault)
    state: str  # status.json's state at the end ("-": none, "invalid": unreadable)
    rows: int | None  # metrics.jsonl rows at the end
    metrics_equal: bool | None  # rows (timing columns dropped) equal the uninterrupted run's
    weights_equal: bool | None  # model/model.safetensors' sha256 equals the uninterrupted run's
    message: str  # the one line the user saw about the fault
    seconds: float  # the last launch's wall time: to fail, or to finish after the restart
    detail: str = ""  # where the fault landed


@dataclass
class Bench:
    """The uninterrupted reference run and the settings every launch shares."""

    work: Path
    reference: Path
    extra: tuple[str, ...] = ()  # overrides added to every launch (after tests/faults' SMOKE)

    def run_dir(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path / "run"

    def start(self, run_dir: Path, *more: str, env: dict | None = None) -> subprocess.Popen:
        return launch(run_dir, *self.extra, *more, env=env)

    def timed(self, run_dir: Path, *more: str, env: dict | None = None) -> tuple[int, str, float]:
        """Launch, wait for the end: (exit code, output, seconds)."""
        t0 = time.perf_counter()
        proc = self.start(run_dir, *more, env=env)
        out, _ = proc.communicate(timeout=1800)
        return proc.returncode, out, time.perf_counter() - t0


def said(out: str, run_dir: Path, *needles: str) -> str:
    """The first output line with one of ``needles`` (else the last ``redi:`` line), paths shortened."""
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    at = next((j for n in needles for j, x in enumerate(lines) if n in x), None)
    at = (
        at
        if at is not None
        else next((j for j in reversed(range(len(lines))) if lines[j].startswith("redi:")), -1)
    )
    picked = lines[at] if lines else ""
    if picked.endswith(":"):  # a list follows (several config errors): the first two items
        picked += " " + "; ".join(lines[at + 1 : at + 3])
    picked = re.sub(r"^\[[\d:]+\]\[[\w.]+\]\[\w+\] ", "", picked)  # the log record's time and logger
    picked = picked.replace(str(run_dir), "<run>").replace(os.environ.get("REDI_CACHE_DIR", "\0"), "<cache>")
    return picked if len(picked) <= 220 else picked[:217] + "..."


def observe(bench: Bench, run_dir: Path, codes: list[int], message: str, seconds: float, detail="") -> Trial:
    """Compare what the run directory holds now with the uninterrupted run."""
    try:
        state = json.loads((run_dir / "status.json").read_text()).get("state", "-")
    except FileNotFoundError:
        state = "-"
    except ValueError:
        state = "invalid"
    got = rows(run_dir) if (run_dir / "metrics.jsonl").exists() else None
    has_model = (run_dir / "model" / "model.safetensors").exists()
    return Trial(
        codes,
        state,
        None if got is None else len(got),
        None if got is None else got == rows(bench.reference),
        weights(run_dir) == weights(bench.reference) if has_model else None,
        message,
        seconds,
        detail,
    )


def count_rows(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def train_rows(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return path.read_text().count('"train/loss"') if path.exists() else 0


def logged(run_dir: Path, text: str) -> bool:
    path = run_dir / "run.log"
    return path.exists() and text in path.read_text(errors="replace")


def last_log_line(run_dir: Path) -> str:
    path = run_dir / "run.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return re.sub(r"^\[[\d:]+\]\[[\w.]+\]\[\w+\] ", "", lines[-1])[:60] if lines else "(no log yet)"


def interrupt(
    bench: Bench, run_dir: Path, when: Callable[[Path], bool], sig=signal.SIGKILL, delay=0.0, env=None
):
    """Launch, wait until ``when(run_dir)``, wait ``delay`` s more, send ``sig``: (hit, exit code, output, where)."""
    proc = bench.start(run_dir, env=env)
    hit = wait_for(lambda: when(run_dir), proc, timeout=1200)
    if hit and delay:
        time.sleep(delay)
    where = last_log_line(run_dir)
    if proc.poll() is None:
        proc.send_signal(sig)
    else:
        hit = False
    out, _ = proc.communicate(timeout=1800)
    return hit, proc.returncode, out, where


def checkpoint_done(step: int) -> Callable[[Path], bool]:
    return lambda d: (d / "checkpoints" / f"step_{step}" / "manifest.json").exists()


def kill_then_restart(bench, name, when, damage, needles, delay=0.0) -> Trial:
    """SIGKILL at ``when``, apply ``damage(run_dir)`` (returns a detail), restart, compare."""
    run_dir = bench.run_dir(name)
    hit, killed, _, where = interrupt(bench, run_dir, when, delay=delay)
    detail = f"killed at '{where}' with {count_rows(run_dir)} rows" if hit else "missed: the run had ended"
    extra = damage(run_dir) if hit else ""
    code, out, seconds = bench.timed(run_dir)
    return observe(bench, run_dir, [killed, code], said(out, run_dir, *needles), seconds, f"{detail}{extra}")


# ---------------------------------------------------------------------------------------------------------------
# the faults: (bench, trial's rng, trial number) -> Trial


def no_checkpoint_yet(bench: Bench, rng: random.Random, i: int) -> Trial:
    when = MOMENTS["after the step-0 eval"]
    return kill_then_restart(bench, f"no-ckpt-{i}", when, lambda d: "", ["redi: "], rng.uniform(0, 1.0))


def deleted_latest(bench: Bench, rng: random.Random, i: int) -> Trial:
    def damage(run_dir: Path) -> str:
        (run_dir / "checkpoints" / "latest").unlink()
        return "; checkpoints/latest deleted"

    return kill_then_restart(bench, f"latest-{i}", checkpoint_done(6), damage, ["latest is missing"])


def malicious_pickle(bench: Bench, rng: random.Random, i: int) -> Trial:
    marker = bench.work / f"pwned-{i}"

    def damage(run_dir: Path) -> str:
        target = run_dir / "checkpoints" / "step_6"
        for name in ("manifest.json", "trainer_state.json", "trainer_state.safetensors"):
            (target / name).unlink()
        torch.save({"optimizer": _Payload(marker)}, target / "trainer_state.pt")
        return "; step_6 made a format-1 checkpoint whose trainer_state.pt runs `touch`"

    trial = kill_then_restart(bench, f"pickle-{i}", checkpoint_done(6), damage, ["UnpicklingError", "pickle"])
    trial.detail += f"; the payload ran: {'YES' if marker.exists() else 'no'}"
    return trial


def malformed_metrics_line(bench: Bench, rng: random.Random, i: int) -> Trial:
    def damage(run_dir: Path) -> str:
        path = run_dir / "metrics.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        at = rng.randint(1, len(lines) - 1)
        lines.insert(at, '{"step": 3, "train/lo\n')
        path.write_text("".join(lines))
        return f"; a cut JSON line inserted as line {at + 1}"

    trial = kill_then_restart(bench, f"malformed-{i}", checkpoint_done(6), damage, ["malformed line"])
    rejected = bench.work / f"malformed-{i}" / "run" / "metrics.rejected.jsonl"
    trial.detail += f"; metrics.rejected.jsonl holds it: {'yes' if rejected.exists() else 'no'}"
    return trial


def corrupt_checkpoint(kind: str):
    name, damage_file, _ = DAMAGE[kind]

    def fault(bench: Bench, rng: random.Random, i: int) -> Trial:
        def damage(run_dir: Path) -> str:
            damage_file(run_dir / "checkpoints" / "step_6" / name)
            return f"; {kind}: step_6/{name}"

        slug = kind.replace(" ", "-")
        return kill_then_restart(bench, f"{slug}-{i}", checkpoint_done(6), damage, ["damaged checkpoint"])

    return fault


def invalid_status(bench: Bench, rng: random.Random, i: int) -> Trial:
    """status.json cut by hand: the launch names it; deleting it (as the message says) resumes."""
    run_dir = bench.run_dir(f"status-{i}")
    _, killed, _, where = interrupt(bench, run_dir, checkpoint_done(3))
    (run_dir / "status.json").write_text('{"state": "runn')
    code, out, seconds = bench.timed(run_dir)
    message = said(out, run_dir, "is not valid JSON")
    (run_dir / "status.json").unlink()
    again, _, _ = bench.timed(run_dir)
    detail = f"killed at '{where}'; after deleting status.json as told: exit {again}"
    trial = observe(bench, run_dir, [killed, code, again], message, seconds, detail)
    return trial


def two_launches(bench: Bench, rng: random.Random, i: int) -> Trial:
    run_dir = bench.run_dir(f"twice-{i}")
    t0 = time.perf_counter()
    procs = [bench.start(run_dir), bench.start(run_dir)]
    outs = [p.communicate(timeout=1800)[0] for p in procs]
    codes = [p.returncode for p in procs]
    second = outs[codes.index(3)] if 3 in codes else outs[1]
    message = said(second, run_dir, "is in use by pid")
    return observe(bench, run_dir, codes, message, time.perf_counter() - t0, "both started together")


def termination_signal(sig: signal.Signals):
    def fault(bench: Bench, rng: random.Random, i: int) -> Trial:
        run_dir = bench.run_dir(f"{sig.name.lower()}-{i}")
        k = rng.randint(1, 7)
        delay = rng.uniform(0, 1.0)
        hit, code, out, where = interrupt(bench, run_dir, lambda d: train_rows(d) >= k, sig, delay)
        message = said(out, run_dir, "redi: interrupted", "KeyboardInterrupt")
        status = json.loads((run_dir / "status.json").read_text())
        detail = f"after step {k} +{delay:.2f}s at '{where}': {status['state']} ({status.get('reason', '')})"
        again, _, seconds = bench.timed(run_dir)
        return observe(bench, run_dir, [code, again], message, seconds, detail if hit else "missed")

    return fault


# outside the training loop: (a fresh cache, so stage 1 is built; (log text to wait for, delay) from the rng)
EARLY = {
    "stage 1's data build": (True, lambda rng: ("stage 1 | data build: started", 0.0)),
    "stage 1's training": (True, lambda rng: (f"stage 1 | train: {rng.randint(1, 10)}/", rng.uniform(0, 1))),
    "the step-0 evaluation": (False, lambda rng: ("evaluation at step 0: started", rng.uniform(0, 3))),
}


def early_signal(sig: signal.Signals, where: str):
    """``sig`` before the training loop starts (issue 12's Limits): stopped at once, then rerun."""
    fresh, plan = EARLY[where]

    def fault(bench: Bench, rng: random.Random, i: int) -> Trial:
        name = f"{sig.name.lower()}-{where.split()[-1]}-{i}"
        run_dir = bench.run_dir(name)
        cache = bench.work / f"cache-{name}"
        env = (
            {"REDI_CACHE_DIR": str(cache), "HF_DATASETS_CACHE": str(cache / "hf-datasets")} if fresh else None
        )
        text, delay = plan(rng)
        proc = bench.start(run_dir, env=env)
        hit = wait_for(lambda: logged(run_dir, text), proc, timeout=1200)
        time.sleep(delay)
        where_now = last_log_line(run_dir)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=1800)
        status = json.loads((run_dir / "status.json").read_text())
        detail = f"at '{where_now}' (+{delay:.2f}s): {status['state']} ({status.get('reason', '')})"
        code, _, seconds = bench.timed(run_dir, env=env)
        message = said(out, run_dir, "redi: interrupted", "KeyboardInterrupt", "Error")
        return observe(bench, run_dir, [proc.returncode, code], message, seconds, detail if hit else "missed")

    return fault


PHASES = ("a step", "an evaluation", "a checkpoint write", "the final model write")


def sigkill_random(bench: Bench, rng: random.Random, i: int) -> Trial:
    """SIGKILL in one of PHASES (trial i: phase i mod 4), at a random step / evaluation / checkpoint and offset."""
    phase = PHASES[i % len(PHASES)]
    if phase == "a step":
        k = rng.randint(2, 8)
        when, what, delay = (lambda d: train_rows(d) >= k - 1), f"step {k}", rng.uniform(0, 1.5)
    elif phase == "an evaluation":
        s = rng.choice([0, 4, 8])
        when, what, delay = (
            (lambda d: logged(d, f"evaluation at step {s}: started")),
            f"eval {s}",
            rng.uniform(0, 3),
        )
    elif phase == "a checkpoint write":
        n = rng.choice([3, 6])
        when, what, delay = (lambda d: any((d / "checkpoints").glob(f".step_{n}*"))), f"step_{n}", 0.0
    else:
        when, what, delay = final_model_write, "model/", 0.0
    trial = kill_then_restart(bench, f"sigkill-{i}", when, lambda d: "", ["redi: "], delay)
    trial.detail = f"{phase} ({what}, +{delay:.2f}s): {trial.detail}"
    return trial


def final_model_write(run_dir: Path) -> bool:
    """True while the final model is written (its temporary directory exists), or just after it: polled every
    millisecond from the end of the final evaluation for up to 2 s (the write itself takes milliseconds)."""
    if not logged(run_dir, "evaluation at step 8: done"):
        return False
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 2 and not MOMENTS["during the final model write"](run_dir):
        time.sleep(0.001)
    return True


def zero_row_build(bench: Bench, rng: random.Random, i: int) -> Trial:
    """Every source dropped: the build keeps no rows; twice, and no cache entry is left behind."""
    run_dir = bench.run_dir(f"zero-{i}")
    data = Path(os.environ["REDI_CACHE_DIR"]) / "data"
    before = sorted(p.name for p in data.iterdir()) if data.exists() else []
    drop = "data.builder.drop_sources=[synthetic_arithmetic,synthetic_word]"
    first, out, _ = bench.timed(run_dir, drop)
    second, out, seconds = bench.timed(run_dir, drop)
    after = sorted(p.name for p in data.iterdir()) if data.exists() else []
    new = [n for n in after if n not in before and not n.endswith(".lock")]
    detail = f"cache entries left: {len(new)}"
    return observe(bench, run_dir, [first, second], said(out, run_dir, "redi: error"), seconds, detail)


def wandb_fault(kind: str):
    """W&B online without a key, against a closed port, or its service process killed mid-run."""

    def fault(bench: Bench, rng: random.Random, i: int) -> Trial:
        run_dir = bench.run_dir(f"wandb-{kind}-{i}")
        home = bench.work / f"home-{kind}-{i}"
        home.mkdir(exist_ok=True)
        env = {"HOME": str(home), "WANDB_API_KEY": None, "WANDB_MODE": None, "WANDB_SERVICE": None}
        if kind == "unreachable":
            env.update(WANDB_API_KEY="x" * 40, WANDB_BASE_URL="http://127.0.0.1:9", WANDB_INIT_TIMEOUT="5")
        mode = "logger.wandb_mode=" + ("offline" if kind == "killed" else "online")
        t0 = time.perf_counter()
        proc = bench.start(run_dir, mode, env=env)
        detail = ""
        if kind == "killed":
            wait_for(lambda: (run_dir / "checkpoints" / "latest").exists(), proc)
            found = subprocess.run(
                ["pgrep", "-P", str(proc.pid), "wandb-core"], capture_output=True, text=True
            )
            pids = [int(p) for p in found.stdout.split()]
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            detail = f"killed {len(pids)} wandb-core process(es) at '{last_log_line(run_dir)}'"
        out, _ = proc.communicate(timeout=1800)
        warnings = json.loads((run_dir / "status.json").read_text()).get("warnings", [])
        detail += f"; status.json warnings: {len(warnings)}"
        message = said(out, run_dir, "W&B could not start", "W&B failed")
        return observe(bench, run_dir, [proc.returncode], message, time.perf_counter() - t0, detail)

    return fault


def full_disk(bench: Bench, rng: random.Random, i: int) -> Trial:
    """The run directory on a 700 KB tmpfs (the run needs about 830 KB); then the disk is grown and it reruns."""
    if os.geteuid() != 0:
        return Trial([], "-", None, None, None, "skipped: mounting a tmpfs needs root", 0.0)
    mount = bench.work / f"disk-{i}"
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(mount)], check=True)
    try:
        run_dir = mount / "run"
        first, out, _ = bench.timed(run_dir)
        message = said(out, run_dir, "redi: error: the disk is full", "No space", "OSError")
        state = json.loads((run_dir / "status.json").read_text()).get("state")
        detail = f"first launch: {state} at '{last_log_line(run_dir)}'; then remounted with 16 MB"
        subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
        code, _, seconds = bench.timed(run_dir)
        return observe(bench, run_dir, [first, code], message, seconds, detail)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
