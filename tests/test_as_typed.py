"""Issue 24's items as a user types them: the real entry point in a fresh directory, one line naming the key,
exit 2, nothing run and no run directory left. The time each takes to fail is recorded
(<pytest base temp>/fault_timings.jsonl), not asserted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]


def redi(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m redi.run ARGS`` in ``cwd`` (this checkout on PYTHONPATH); the process and its wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc, time.perf_counter() - t0


@pytest.fixture
def record_time(tmp_path_factory, request):
    """Append (test, seconds to fail) to <pytest base temp>/fault_timings.jsonl: recorded, never asserted."""
    out = tmp_path_factory.getbasetemp() / "fault_timings.jsonl"

    def record(seconds: float) -> None:
        with open(out, "a") as f:
            f.write(json.dumps({"test": request.node.name, "seconds": round(seconds, 3)}) + "\n")

    return record


REFUSED = {
    # item 2: Hydra uses a launcher only in a multirun; without -m the job would run on the login node
    "launcher without -m": (
        ["experiment=smoke", "hydra/launcher=slurm"],
        "redi: error: hydra/launcher=slurm: Hydra uses a launcher only in a multirun, so without -m this run would "
        "start here, on this machine; add -m (python -m redi.run -m ... hydra/launcher=slurm)",
    ),
    "local launcher without -m": (
        ["experiment=smoke", "hydra/launcher=local"],
        "redi: error: hydra/launcher=local: Hydra uses a launcher only in a multirun",
    ),
    # item 3: keys nothing reads, added with + (Hydra's own hint for a misspelled key)
    "+trainer.max_step": (
        ["experiment=smoke", "+trainer.max_step=5"],
        "redi: error: trainer.max_step=5: no such key, so nothing would read it (did you mean trainer.max_steps?)",
    ),
    "+alhpa": (
        ["experiment=smoke", "+alhpa=0.5"],
        "redi: error: alhpa=0.5: no such key, so nothing would read it (did you mean alpha?)",
    ),
    # item 6, a value that does not parse: one line, whether swept or not
    "unparsable sweep value": (
        ["-m", "experiment=smoke", "alpha=0.2,,8"],
        "redi: error: alpha=0.2,,8: does not parse (extraneous input ','; the grammar: ",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_before_any_compute_with_one_line(case, tmp_path, record_time):
    args, says = REFUSED[case]
    proc, seconds = redi(*args, cwd=tmp_path)
    record_time(seconds)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(says), proc.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / ".cache").exists()  # nothing ran


def fresh_clone(tmp_path: Path) -> Path:
    """This checkout's tracked files (not its results) copied to ``tmp_path/clone``: a clone a user can edit."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split("\n")  # fmt: skip
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith(("sweeps/", "analysis/", "benchmarks/")):
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes(source.read_bytes())
    return clone


def clone_run(clone: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(clone), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "redi.run", *args], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip


@pytest.mark.slow
def test_an_edited_yaml_is_a_new_run_never_the_old_ones(tmp_path):
    """Item 7: run, edit a YAML, rerun the same command: a new run beside the old one, the difference said; the old
    run's config and metrics untouched; the old directory given by hand is refused, naming the difference."""
    clone = fresh_clone(tmp_path)
    command = ["experiment=smoke", "trainer.max_steps=2", "eval.every_n_steps=0", "eval.at_start=false",
               "eval.at_end=false"]  # fmt: skip
    first = clone_run(clone, *command)
    assert first.returncode == 0, first.stderr[-3000:]
    old = Path(first.stdout.split("run directory: ")[1].split()[0])
    kept = {
        name: (old / name).read_bytes() for name in (".hydra/config.yaml", "metrics.jsonl", "status.json")
    }
    smoke = clone / "conf" / "experiment" / "smoke.yaml"
    text = smoke.read_text()
    assert text.count("\n  micro_batch_size: 8\n") == 1  # the trainer's (stage 1's is 32)
    smoke.write_text(text.replace("\n  micro_batch_size: 8\n", "\n  micro_batch_size: 4\n"))

    second = clone_run(clone, *command)
    assert second.returncode == 0, second.stderr[-3000:]
    new = Path(second.stdout.split("run directory: ")[1].split()[0])
    assert new.parent == old.parent and new.name.startswith(old.name + "_c")
    assert (
        f"{old} holds a run of another configuration (trainer.micro_batch_size: 8 -> 4); this one runs in {new}"
        in second.stdout
    )
    assert {name: (old / name).read_bytes() for name in kept} == kept
    assert OmegaConf.load(new / ".hydra" / "config.yaml").trainer.micro_batch_size == 4
    assert [json.loads(r)["step"] for r in (new / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    by_hand = clone_run(clone, *command, f"hydra.run.dir={old}")
    assert by_hand.returncode == 2
    assert by_hand.stderr.strip() == (
        f"redi: error: {old} holds a run of another configuration (trainer.micro_batch_size: 8 -> 4); run this one "
        "in another directory, or remove that one to start it over"
    )
    assert {name: (old / name).read_bytes() for name in kept} == kept


SWEEPS_REFUSED = {
    # item 6: every member checked before the first starts; the bad ones named together; nothing run or submitted
    "out of range": (
        ["-m", "experiment=smoke", "alpha=0.2,8"],
        ["redi: error: 1 of 2 sweep members cannot run, so none was started:",
         "  - #1 experiment=smoke alpha=8: alpha=8.0: must be <= 1"],
    ),
    "on SLURM": (
        ["-m", "experiment=smoke", "alpha=0.2,8,1.5", "hydra/launcher=slurm"],
        ["redi: error: 2 of 3 sweep members cannot run, so none was started:",
         "  - #1 experiment=smoke alpha=8: alpha=8.0: must be <= 1",
         "  - #2 experiment=smoke alpha=1.5: alpha=1.5: must be <= 1"],
    ),
    "a value that is no number": (
        ["-m", "experiment=smoke", "alpha=0.2,x"],
        ["redi: error: 1 of 2 sweep members cannot run, so none was started:",
         "  - #1 experiment=smoke alpha=x: alpha=x: Value 'x' of type 'str' could not be converted to Float"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SWEEPS_REFUSED))
def test_a_sweep_is_checked_member_by_member_before_any_starts(case, tmp_path, record_time):
    args, says = SWEEPS_REFUSED[case]
    proc, seconds = redi(*args, cwd=tmp_path)
    record_time(seconds)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if line.strip()] == says
    assert (
        not (tmp_path / "runs").exists() and not (tmp_path / ".cache").exists()
    )  # nothing ran or was submitted


@pytest.mark.slow
def test_a_sweep_without_a_name_resumes_by_rerunning_the_same_command(tmp_path):
    """Item 8: SIGTERM one member of ``-m ... hydra/launcher=local``: members.tsv and its status.json both say
    "interrupted"; the same command again (its overrides in another order) resumes it in the same sweep directory
    and does not run the finished member again."""
    command = ["-m", "experiment=smoke", "hydra/launcher=local", "alpha=0.2,0.8", "eval.every_n_steps=0",
               "eval.at_start=false", "eval.at_end=false"]  # fmt: skip
    steps = [
        "trainer.max_steps=2,40",
        "trainer.save_every=3",
    ]  # the 2-step members end; a 40-step one is stopped
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "redi.run", *command, *steps], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    sweeps = tmp_path / "runs" / "sweeps"
    deadline = time.time() + 900
    target = None
    while time.time() < deadline and proc.poll() is None and target is None:
        for latest in sweeps.glob("*/*/checkpoints/latest"):
            if latest.read_text().strip() not in ("", "step_3"):  # a long member past its first checkpoint
                target = latest.parent.parent
        time.sleep(0.2)
    assert target is not None, "no member got past its first checkpoint"
    os.kill(json.loads((target / ".lock").read_text())["pid"], signal.SIGTERM)
    out = proc.communicate(timeout=900)[0]
    assert proc.returncode == 1, out[-3000:]
    [sweep] = list(sweeps.iterdir())
    assert sweep.name == "sweep_smoke_a0.2+0.8_" + sweep.name.split("_")[-1]  # named after the command
    table = {Path(m["run_dir"]).name: m for m in read_members(sweep)}
    status = json.loads((target / "status.json").read_text())
    assert status["state"] == "interrupted" and table[target.name]["state"] == "interrupted"
    assert "the interrupted ones resume when the same command runs again" in out
    finished = {name for name, m in table.items() if m["state"] == "completed"}
    assert len(finished) >= 2  # the 2-step members

    again, _ = redi(*command[:1], *reversed(command[1:]), *reversed(steps), cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert [p.name for p in sweeps.iterdir()] == [sweep.name]
    status = json.loads((target / "status.json").read_text())
    assert status["state"] == "completed" and status["resumed_from_step"] >= 6
    assert {Path(m["run_dir"]).name: m["state"] for m in read_members(sweep)} == dict.fromkeys(
        table, "completed"
    )
    for name in finished:  # not run again
        assert "already ended 'completed'" in (sweep / name / "run.log").read_text()


def read_members(sweep: Path) -> list[dict[str, str]]:
    import csv

    with open(sweep / "members.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))
