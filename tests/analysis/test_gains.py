"""The sweep's paired gains over the alpha = 0 control, worked by hand on a fake sweep, and the stability figure."""

from __future__ import annotations

import json
import math

import pytest

from redi.analysis import gains
from redi.analysis.figures import stability_figure
from redi.analysis.load import load_sweep
from tests.analysis.fake_sweep import PAIRED_MEMBERS, make_paired_sweep


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    return load_sweep(make_paired_sweep(tmp_path_factory.mktemp("sweeps")))


def test_gains_over_the_control_by_hand(frame):
    t = gains.gains_table(frame).set_index("config")
    assert list(t.index) == ["REDI alpha=0.8, lr=2e-5", "REDI alpha=0.8, lr=1e-4", "symmetric lr=1e-4"]
    a = t.loc["REDI alpha=0.8, lr=1e-4"]
    # seed-averaged pass@1 0.5, 0.6875, 0.8125: best = last = step 20; the control's 0.5, 0.5, 0.625: step 20.
    # d = [0, .5, 0, 0] (seed 1), [0, .5, .5, 0] (seed 2): replicate gains 0.125 and 0.25, their mean 0.1875 and
    # SE sd / sqrt(2) = 0.0625
    assert (a["best_step"], a["control_best_step"], a["replicates"], a["problems"]) == ("20", "20", 2, 4)
    assert a["best_gain"] == pytest.approx(0.1875) and a["best_se"] == pytest.approx(0.0625)
    assert a["final_gain"] == pytest.approx(0.1875) and a["final_se"] == pytest.approx(0.0625)
    s = t.loc["symmetric lr=1e-4"]
    # best step 10 [1, 1, 1, .5] vs control step 20 [1, .5, .5, .5]: d = [0, .5, .5, 0]; final: [0, 0, .5, 0] vs the
    # same control: d = [-1, -.5, 0, -.5] -- the gap between best and final is the collapse; one replicate: the SE
    # over its problems
    assert s["best_step"] == "10" and s["best_gain"] == pytest.approx(0.25)
    assert s["best_se"] == pytest.approx(math.sqrt(1 / 12 / 4))
    assert s["final_gain"] == pytest.approx(-0.5) and s["final_se"] == pytest.approx(math.sqrt(0.5 / 3 / 4))
    assert s["series"] == "symmetric" and math.isnan(s["final_low"])
    no_control = t.loc["REDI alpha=0.8, lr=2e-5"]
    assert math.isnan(no_control["best_gain"]) and no_control["replicates"] == 0
    md = gains.gains_markdown(gains.gains_table(frame))
    # 2 replicates: the 95% CI is +- t(1) = 12.706 SEs
    row = "| REDI alpha=0.8, lr=1e-4 | 2 | 0.812 (0.625) | +18.8 ± 6.2 | -60.7 to +98.2 (t, 1 df) | R1 +12.5 R2 +25.0 |"
    assert row in md and "A replicate varies seed:" in md and "- R2: seed=2" in md
    assert (
        "Finished runs with no finished control of their replicate, arm and lr: 1 (alpha=0.8,lr=2e-05,seed=1)."
        in md
    )
    assert a["varies"] == "seed" and a["per_replicate"] == "R1 +12.5 R2 +25.0"


def test_a_label_inversion_is_its_own_configuration_paired_with_the_control(tmp_path):
    """An inverted run at alpha 0.8 is not pooled with the true alpha 0.8 runs, and an inverted alpha 0 (SFT on
    the negatives) is no control: both are paired with the control that trained on the positives."""
    worse = [[0.5, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5]]
    members = [
        *PAIRED_MEMBERS,
        ("inv_alpha=0.8,lr=0.0001,seed=1", 0.8, 1e-4, 1, worse),
        ("inv_alpha=0.0,lr=0.0001,seed=1", 0.0, 1e-4, 1, worse),
    ]
    swapped = ("inv_alpha=0.8,lr=0.0001,seed=1", "inv_alpha=0.0,lr=0.0001,seed=1")
    frame = load_sweep(make_paired_sweep(tmp_path, members=members, swapped=swapped))
    assert set(frame.loc[frame["run"].str.startswith("inv_"), "variant"]) == {"labels swapped"}
    t = gains.gains_table(frame).set_index("config")
    true_run = t.loc["REDI alpha=0.8, lr=1e-4"]
    assert true_run["replicates"] == 2 and true_run["final_gain"] == pytest.approx(
        0.1875
    )  # as without the inversions
    inverted = t.loc["REDI alpha=0.8, lr=1e-4 [labels swapped]"]
    # final [0, 0, .5, .5] against seed 1's control [1, .5, .5, .5]: d = [-1, -.5, 0, 0]
    assert inverted["replicates"] == 1 and inverted["final_gain"] == pytest.approx(-0.375)
    assert inverted["series"] == "REDI alpha=0.8 [labels swapped]"
    assert t.loc["REDI alpha=0, lr=1e-4 [labels swapped]", "final_gain"] == pytest.approx(-0.375)


def test_stability_figure_has_the_gain_and_curve_panels(frame):
    fig = stability_figure(frame)
    axes = fig.get_axes()
    assert len(axes) == 6
    assert axes[0].get_xscale() == "log" and axes[0].get_ylabel().startswith(
        "gain over the alpha = 0 control"
    )
    labels = axes[0].get_legend_handles_labels()[1]
    assert {
        "REDI alpha=0.8 (best)",
        "REDI alpha=0.8 (final)",
        "symmetric (best)",
        "symmetric (final)",
    } <= set(labels)
    assert [a.get_ylabel() for a in axes[1:]] == [
        "pass@1", "chosen log-prob / token", "rejected log-prob / token", "gradient norm", "update norm"
    ]  # fmt: skip


def test_an_rpo_sweep_over_nll_weight_keeps_each_weight_apart(tmp_path):
    """Issue 25 item 5: nll_weight is declared by rpo only; two weights at the same beta, lr and seed are two
    configurations in every table (they were merged and averaged as if seeds), each paired with the control."""
    from redi.analysis.tables import stability_summary, table2
    from tests.analysis.fake_sweep import PAIRED_STEPS, START_SCORES, eval_rows, write_run

    sweep = make_paired_sweep(tmp_path, members=[PAIRED_MEMBERS[0]])  # the alpha = 0 control, seed 1
    for weight, later in ((0.5, [[1.0, 0.5, 0.5, 0.5], [1.0, 1.0, 0.5, 0.5]]), (2.0, [[0.5] * 4, [0.5] * 4])):
        run_dir = sweep / f"rpo_nll{weight}"
        write_run(run_dir, "rpo", {"beta": 0.1, "nll_weight": weight}, 1e-4, None, seed=1)
        (run_dir / "eval").mkdir()
        lines = []
        for step, scores in zip(PAIRED_STEPS, [START_SCORES, *later], strict=True):
            lines.append({"step": step, "eval/synthetic/pass@1": sum(scores) / 4})
            rows = eval_rows(step, scores)
            (run_dir / "eval" / f"step_{step}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    frame = load_sweep(sweep)
    configs = ["RPO beta=0.1, nll_weight=0.5, lr=1e-4", "RPO beta=0.1, nll_weight=2, lr=1e-4"]
    table = gains.gains_table(frame).set_index("config")
    assert sorted(table.index) == configs
    # final scores [1, 1, .5, .5] and [.5] * 4 against the control's [1, .5, .5, .5]: +0.125 and -0.125, 1 seed each
    assert table.loc[configs[0], ["final_gain", "replicates"]].tolist() == [pytest.approx(0.125), 1]
    assert table.loc[configs[1], ["final_gain", "replicates"]].tolist() == [pytest.approx(-0.125), 1]
    assert table["nll_weight"].tolist() == [0.5, 2.0]
    assert set(table2(frame)["config"]) >= set(configs)
    assert set(stability_summary(frame)["config"]) >= set(configs)
