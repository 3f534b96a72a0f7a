"""Issue 24's items as a user types them: the real entry point in a fresh directory, one line naming the key,
exit 2, nothing run and no run directory left. The time each takes to fail is recorded
(<pytest base temp>/fault_timings.jsonl), not asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
