"""benchmarks/paper_shape.py: its CPU overrides of experiment=paper_stage2 pass the pre-flight and train 2 steps
end to end on the paper's numerics (--dry: the same run with tiny widths)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _dry_point(work: Path) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "paper_shape.py"),
            "--dry",
            "--point",
            "1,32",
            "--work",
            str(work),
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_dry_point_trains_two_steps_of_paper_stage2_on_fp32_master_weights(tmp_path):
    point = _dry_point(tmp_path)
    assert (point["state"], point["steps"]) == ("completed", 2)
    assert point["peak_rss_mb"] > 0 and point["loss"][0] > 0
    # both sequences of the pair: prompt (48 words + the chat template) + 32 response words, each a token
    assert point["tokens_per_step"][0] > 2 * 32
    assert "in float32; forward and backward in bf16 autocast" in point["numerics"]
    config = json.loads((tmp_path / "model_1l" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["tie_word_embeddings"] is True
    started = json.loads((tmp_path / "run_1l_32" / "status.json").read_text())["started_at"]
    # measured again in the same work directory: a new run, not the finished one returning at once
    again = _dry_point(tmp_path)
    assert json.loads((tmp_path / "run_1l_32" / "status.json").read_text())["started_at"] != started
    assert again["loss"] == point["loss"] and again["numerics"] != point["numerics"]
