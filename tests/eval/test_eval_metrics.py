"""pass@1, its standard error as the paper computes it, and unbiased pass@k, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from redi.eval.metrics import benchmark_metrics, correctness_matrix, pass_at_1, pass_at_1_sem, pass_at_k


def test_sem_is_std_of_per_sample_index_scores_over_sqrt_k():
    # 3 problems x 2 samples. Sample-index scores: column 0 = 2/3, column 1 = 1/3; mean 1/2; std (ddof 0) = 1/6.
    c = correctness_matrix([[True, False], [True, True], [False, False]])
    assert pass_at_1(c) == pytest.approx(0.5)
    assert pass_at_1_sem(c) == pytest.approx((1 / 6) / math.sqrt(2))  # 0.117851...
    assert pass_at_1_sem(correctness_matrix([[True], [False]])) == 0.0  # one sample: no spread


def test_sem_of_four_samples():
    # column scores 1/2, 1, 0, 1/2 -> mean 1/2, var = (0 + 1/4 + 1/4 + 0)/4 = 1/8, std = 0.353553, / 2
    c = correctness_matrix([[1, 1, 0, 0], [0, 1, 0, 1]])
    assert pass_at_1_sem(c) == pytest.approx(math.sqrt(1 / 8) / 2)


def test_pass_at_k_unbiased():
    c = correctness_matrix([[1, 0, 0, 0]])  # n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(c, 2) == pytest.approx(0.5)
    assert pass_at_k(c, 1) == pytest.approx(0.25)
    assert pass_at_k(c, 4) == pytest.approx(1.0)
    assert pass_at_k(correctness_matrix([[1, 0], [1, 1], [0, 0]]), 2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="pass@5"):
        pass_at_k(c, 5)


def test_benchmark_metrics_names_and_values():
    m = benchmark_metrics(
        [[True, False], [False, False]],
        lengths=[10, 20, 30, 40],
        truncated=[False, True, False, False],
        timeouts=1,
        ks=[1, 2],
        prefix="eval/x",
    )
    assert m == pytest.approx(
        {
            "eval/x/pass@1": 0.25,
            "eval/x/pass@1_sem": 0.25 / math.sqrt(2),  # scores 1/2 and 0: std 1/4
            "eval/x/pass@2": 0.5,
            "eval/x/mean_length": 25.0,
            "eval/x/truncated_frac": 0.25,
            "eval/x/timeouts": 1.0,
        }
    )


def test_ragged_matrix_rejected():
    with pytest.raises(ValueError, match="same number"):
        correctness_matrix([[True, False], [True]])


def test_curve_accuracy_reads_the_curve_subset_where_a_benchmark_has_one():
    """Benchmark a logged its curve subset (0.20) beside all problems (0.12); b scored all problems only (0.5)."""
    from redi.eval.metrics import curve_accuracy, evaluated_benchmarks

    metrics = {
        "eval/a/pass@1": 0.12,
        "eval/a/curve/pass@1": 0.20,
        "eval/a/curve/pass@1_sem": 0.01,
        "eval/b/pass@1": 0.5,
        "gain/a/pass@1": 0.3,
    }
    assert evaluated_benchmarks(metrics) == ["a", "b"]
    assert curve_accuracy(metrics) == pytest.approx((0.20 + 0.5) / 2)
    assert curve_accuracy({"eval/a/curve/pass@1": 0.2}) == pytest.approx(0.2)
    assert curve_accuracy({"train/loss": 1.0}) is None
