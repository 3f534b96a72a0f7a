"""The report printed at the end of a run: accuracies, then the paired gain on its own line."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from redi.infra.run_result import RunResult
from redi.summary import format_summary


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


def test_an_experiment_that_says_what_it_checks_says_it_under_the_summary():
    result = RunResult(Path("runs/single/redi_smoke"), "completed", step=8)
    checks = "that every part runs end to end, not that it learns"
    cfg = OmegaConf.create({"objective": {"name": "redi"}, "experiment": {"name": "smoke", "checks": checks}})
    assert format_summary(result, cfg).splitlines()[-1] == f"  experiment smoke checks {checks}"
    plain = OmegaConf.create({"objective": {"name": "redi"}, "experiment": {"name": "default", "checks": ""}})
    assert "checks" not in format_summary(result, plain)


def test_the_smoke_experiment_says_what_it_checks():
    from hydra import compose, initialize_config_dir

    import redi.run  # noqa: F401  (registers schemas and resolvers)

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=smoke"])
    assert cfg.experiment.checks.startswith("that every part runs end to end") and "not that it learns" in (
        cfg.experiment.checks
    )
    assert cfg.trainer.threads == 1


def test_a_run_with_a_curve_subset_says_which_problems_each_accuracy_scores():
    """eval.curve_limit: the start and the result on the curve's first 300 problems, the result on all problems."""
    result = RunResult(
        Path("runs/single/redi"),
        "completed",
        step=208,
        start_metrics={
            "eval/synthetic/curve/pass@1": 0.143,
            "eval/synthetic/curve/pass@1_sem": 0.007,
            "eval/synthetic/curve/problems": 300.0,
        },
        final_metrics={
            "eval/synthetic/pass@1": 0.119,
            "eval/synthetic/pass@1_sem": 0.005,
            "eval/synthetic/curve/pass@1": 0.150,
            "eval/synthetic/curve/pass@1_sem": 0.006,
            "eval/synthetic/curve/problems": 300.0,
            "gain/synthetic/pass@1": 0.007,
            "gain/synthetic/pass@1_se": 0.005,
            "gain/synthetic/problems": 300.0,
        },
    )
    lines = format_summary(result, OmegaConf.create({"objective": {"name": "redi"}})).splitlines()
    curve = ", the first 300 problems (eval.curve_limit)"
    assert lines[1:5] == [
        f"  accuracy of the starting model (pass@1, step 0{curve}): synthetic 0.143 ± 0.007",
        f"  accuracy of the result (pass@1, step 208{curve}): synthetic 0.150 ± 0.006",
        "  accuracy of the result (pass@1, step 208, all problems): synthetic 0.119 ± 0.005",
        "  gain over the starting model (same problems): synthetic +0.7 ± 0.5 points (paired SE, 300 problems)",
    ]
