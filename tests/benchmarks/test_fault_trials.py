"""benchmarks/fault_trials.py's table: the line the user saw, one row per fault, the trial plan from --seed."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import fault_cases as fc  # noqa: E402
import fault_trials as ft  # noqa: E402
from fault_catalogue import catalogue_sample  # noqa: E402


def test_the_line_the_user_saw_is_the_fault_s_with_the_log_prefix_and_paths_cut(tmp_path):
    run = tmp_path / "run"
    out = (
        "[10:44:21][redi.inputs.model][INFO] loading\n"
        f"[10:44:22][redi.infra.checkpoint][WARNING] damaged checkpoint(s) skipped: {run}/checkpoints/step_6: x\n"
        "redi: redi run completed in 20s\n"
    )
    assert (
        fc.said(out, run, "damaged checkpoint")
        == "damaged checkpoint(s) skipped: <run>/checkpoints/step_6: x"
    )
    assert fc.said(out, run, "no such text") == "redi: redi run completed in 20s"
    listed = "redi: error: 2 problems in the config:\n  - lr=nan: must be a finite number\n  - b\n  - c\n"
    assert fc.said(listed, run, "redi: error") == (
        "redi: error: 2 problems in the config: - lr=nan: must be a finite number; - b"
    )


def test_a_fault_s_trials_make_one_row():
    trials = [
        fc.Trial([-9, 0], "completed", 11, True, True, "m", 20.0),
        fc.Trial([-9, 0], "completed", 11, True, True, "m", 30.0),
        fc.Trial([0], "completed", 11, True, False, "other", 10.0),
    ]
    row = ft.summarise("SIGKILL", trials, 11)
    assert row == [
        "SIGKILL",
        "3",
        "2x exit -9 -> 0, completed; 1x exit 0, completed",
        "11 of 11",
        "equal 3/3",
        "equal 2/3",
        "m",
        "20.0 (max 30.0)",
    ]


def test_the_catalogue_sample_follows_the_seed():
    names = [label for _, label, _ in catalogue_sample(0, 3)]
    assert names == [label for _, label, _ in catalogue_sample(0, 3)]
    assert names != [label for _, label, _ in catalogue_sample(1, 3)]
    assert len(names) == 6 and sum(n.startswith("bad config") for n in names) == 3
