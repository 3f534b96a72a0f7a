"""Paired gains on hand-worked numbers: the estimator, per-problem scores from eval files, a run's gain over step 0."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from redi.eval.paired import (
    format_gain_metrics,
    gain_from_differences,
    gain_metrics,
    mean_gain,
    paired_gain,
    problem_scores,
    run_gain,
)
from tests.analysis.fake_sweep import eval_rows


def test_estimator_by_hand():
    # d[s, p]: seed means 0.125 and 0.25 (var ddof 1 = 0.0078125, / 2 seeds = 0.00390625); problem means
    # 0.75, 0.25, -0.5, 0.25 around 0.1875 (squares sum 0.796875, / 3 = 0.265625, / 4 problems = 0.06640625)
    g = gain_from_differences(np.array([[1.0, 0.0, -1.0, 0.5], [0.5, 0.5, 0.0, 0.0]]))
    assert g.gain == pytest.approx(0.1875)
    assert g.se == pytest.approx(math.sqrt(0.06640625 + 0.00390625))
    assert (g.problems, g.seeds, g.per_seed) == (4, 2, (0.125, 0.25))
    # one seed: the usual paired SE, std(d, ddof 1) / sqrt(P) = sqrt(2 / 3 / 4)
    one = gain_from_differences(np.array([1.0, 0.0, -1.0, 0.0]))
    assert one.gain == 0.0 and one.se == pytest.approx(math.sqrt(2 / 12))
    assert one.format() == "+0.0 ± 40.8 points (paired SE over problems, 4 problems, 1 seed)"


def test_pairs_only_shared_problems_and_means_benchmarks():
    idx = pd.MultiIndex.from_tuples([("b", "p0"), ("b", "p1"), ("b", "p2")])
    treat = pd.Series([1.0, 1.0, 0.0], index=idx)
    control = pd.Series([0.0, 1.0], index=idx[:2])  # p2 was not scored for the control: left out
    g = paired_gain([(treat, control)])
    assert (g.gain, g.problems) == (0.5, 2) and g.se == pytest.approx(0.5)
    assert math.isnan(paired_gain([]).gain)
    m = mean_gain([g, gain_from_differences(np.array([0.0, 0.0]))])
    assert m.gain == pytest.approx(0.25) and m.se == pytest.approx(0.25)


def test_run_gain_over_its_own_start(tmp_path):
    (tmp_path / "eval").mkdir()
    for step, scores in ((0, [0.5, 0.5, 0.0, 1.0]), (8, [1.0, 0.5, 0.5, 1.0])):
        rows = eval_rows(step, scores)
        (tmp_path / "eval" / f"step_{step}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = problem_scores(tmp_path, 8)
    assert scores.to_dict() == {("synthetic", "p0"): 1.0, ("synthetic", "p1"): 0.5, ("synthetic", "p2"): 0.5,
                                ("synthetic", "p3"): 1.0}  # fmt: skip
    gains = run_gain(tmp_path, 8)
    # d = 0.5, 0, 0.5, 0: gain 0.25, std ddof 1 = sqrt(1/12), / 2
    assert list(gains) == ["synthetic"] and gains["synthetic"].gain == pytest.approx(0.25)
    assert gains["synthetic"].se == pytest.approx(math.sqrt(1 / 12) / 2)
    assert run_gain(tmp_path, 99) == {}
    flat = gain_metrics(tmp_path, 8)
    assert flat["gain/synthetic/pass@1"] == pytest.approx(0.25) and flat["gain/synthetic/problems"] == 4
    assert format_gain_metrics(flat) == "synthetic +25.0 ± 14.4 points (paired SE, 4 problems)"
    assert gain_metrics(tmp_path, 0) == {} and gain_metrics(tmp_path, 99) == {}
    with pytest.raises(FileNotFoundError, match="step_99.jsonl"):
        problem_scores(tmp_path, 99)


def test_intervals_use_student_t_with_five_or_fewer_replicates():
    """3 replicates: +- t(2) = 4.303 SEs and the description says so; 6 replicates and 1 replicate: +- 1.96 SEs."""
    from redi.eval.paired import PairedGain

    three = PairedGain(0.037, 0.005, 1000, 3, (0.034, 0.042, 0.035), varies="seed")
    low, high = three.interval()
    assert (low, high) == pytest.approx((0.037 - 4.303 * 0.005, 0.037 + 4.303 * 0.005))
    assert three.describe_interval() == "95% CI +1.5 to +5.9 (t, 2 df; 3 replicates varying seed)"
    assert PairedGain(0.01, 0.002, 300, 6).interval() == pytest.approx(
        (0.01 - 1.96 * 0.002, 0.01 + 1.96 * 0.002)
    )
    assert PairedGain(0.01, 0.002, 300, 1).describe_interval() == "95% CI +0.6 to +1.4 (normal; 1 replicate)"
    assert [PairedGain(0, 1, 10, n).multiplier for n in (2, 4, 5)] == [12.706, 3.182, 2.776]


def test_paired_gain_carries_what_a_replicate_varies():
    treat = pd.Series([1.0, 0.5], index=pd.MultiIndex.from_tuples([("b", "p0"), ("b", "p1")]))
    control = pd.Series([0.5, 0.5], index=treat.index)
    g = paired_gain([(treat, control), (treat, control)], varies="seed, stage1.seed")
    assert (g.gain, g.seeds, g.varies) == (pytest.approx(0.25), 2, "seed, stage1.seed")
