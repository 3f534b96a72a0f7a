"""The report printed at the end of a run: accuracies, then the paired gain on its own line."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from redi.run import format_summary
from redi.stages.result import RunResult


def test_summary_lists_accuracies_and_the_gain_on_separate_lines():
    result = RunResult(
        Path("runs/single/redi"),
        "completed",
        step=60,
        start_metrics={"eval/synthetic/pass@1": 0.586, "eval/synthetic/pass@1_sem": 0.011},
        final_metrics={
            "eval/synthetic/pass@1": 0.536,
            "eval/synthetic/pass@1_sem": 0.012,
            "gain/synthetic/pass@1": -0.05,
            "gain/synthetic/pass@1_se": 0.016,
            "gain/synthetic/problems": 300.0,
        },
    )
    lines = format_summary(result, OmegaConf.create({"objective": {"name": "redi"}})).splitlines()
    assert lines[1] == "  accuracy of the starting model (pass@1, step 0): synthetic 0.586 ± 0.011"
    assert lines[2] == "  accuracy of the result (pass@1, step 60): synthetic 0.536 ± 0.012"
    assert (
        lines[3]
        == "  gain over the starting model (same problems): synthetic -5.0 ± 1.6 points (paired SE, 300 problems)"
    )
