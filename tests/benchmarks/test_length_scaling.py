"""benchmarks/length_scaling.py measures one training step per point and names the CPU's attention kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_one_point_prints_a_row_with_time_memory_and_the_flash_kernel():
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "length_scaling.py"),
            "--model",
            "tiny",
            "--lengths",
            "64",
            "--checkpointing",
            "on",
            "--prompt",
            "16",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    [row] = [line for line in out.stdout.splitlines() if line.startswith("| on |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "64" and cells[2].startswith("162 (slots 162)")  # 2 x (16 prompt + 64 response + EOS)
    assert float(cells[3]) > 0 and float(cells[5].replace(",", "")) > 0
    assert cells[-1] == "flash (CPU)"
