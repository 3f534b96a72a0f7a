"""Benchmark metrics from a [problems, k] correctness matrix: the paper's pass@1 with standard error, and pass@k.

Keys: ``eval/<benchmark>/<metric>`` scores every problem of the benchmark (its own ``limit``);
``eval/<benchmark>/curve/<metric>`` scores only the first ``eval.curve_limit`` problems, logged at every
evaluation (the final one included) when that limit leaves problems out. The curves and the collapse rule read
the curve keys where a run has them (:func:`curve_accuracy`), so every point of a curve scores the same problems.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def correctness_matrix(correct: Sequence[Sequence[bool]]) -> np.ndarray:
    """[P, k] float array from per-problem lists of per-sample verdicts; every problem must have k samples."""
    if not correct:
        raise ValueError("no problems to score")
    widths = {len(row) for row in correct}
    if len(widths) != 1 or 0 in widths:
        raise ValueError(f"every problem needs the same number (>= 1) of samples, got {sorted(widths)}")
    return np.asarray(correct, dtype=np.float64)


def pass_at_1(c: np.ndarray) -> float:
    """Mean correctness over all problems and samples (= mean of the k per-sample-index scores)."""
    return float(c.mean())


def pass_at_1_sem(c: np.ndarray) -> float:
    """The paper's standard error: std (ddof 0) of the k per-sample-index benchmark scores, over sqrt(k).

    Score j is the benchmark accuracy of the j-th sample of every problem (column mean of ``c``); with k = 1 it is 0.
    """
    scores = c.mean(axis=0)  # [k]
    return float(scores.std(ddof=0) / math.sqrt(len(scores)))


def pass_at_k(c: np.ndarray, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): mean over problems of 1 - C(n-c, k) / C(n, k), n samples, c correct."""
    n = c.shape[1]
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= samples per problem ({n})")
    values = []
    for num_correct in c.sum(axis=1).astype(int):
        if n - num_correct < k:
            values.append(1.0)
        else:  # C(n-c, k) / C(n, k) as a product, stable for large n
            values.append(1.0 - float(np.prod(1.0 - k / np.arange(n - num_correct + 1, n + 1))))
    return float(np.mean(values))


def benchmark_metrics(
    correct: Sequence[Sequence[bool]],
    lengths: Sequence[int],
    truncated: Sequence[bool],
    timeouts: int,
    ks: Sequence[int],
    prefix: str,
) -> dict[str, float]:
    """Every metric of one benchmark, named ``<prefix>/<metric>`` (prefix is ``eval/<benchmark>``)."""
    c = correctness_matrix(correct)
    metrics = {
        f"{prefix}/pass@1": pass_at_1(c),
        f"{prefix}/pass@1_sem": pass_at_1_sem(c),
    }
    for k in sorted(set(ks)):
        if k > 1:
            metrics[f"{prefix}/pass@{k}"] = pass_at_k(c, k)
    metrics[f"{prefix}/mean_length"] = float(np.mean(lengths)) if len(lengths) else 0.0
    metrics[f"{prefix}/truncated_frac"] = float(np.mean(truncated)) if len(truncated) else 0.0
    metrics[f"{prefix}/timeouts"] = float(timeouts)
    return metrics


CURVE = "curve"  # eval/<benchmark>/curve/<metric>: the first eval.curve_limit problems


def curve_prefix(benchmark: str) -> str:
    """``eval/<benchmark>/curve``: where the curve subset's metrics are logged."""
    return f"eval/{benchmark}/{CURVE}"


def curve_key(metrics: dict[str, float], benchmark: str, metric: str = "pass@1") -> str:
    """The key of ``metric`` on the problems the curve scores: the curve subset's key when logged, else the plain one."""
    key = f"{curve_prefix(benchmark)}/{metric}"
    return key if key in metrics else f"eval/{benchmark}/{metric}"


def evaluated_benchmarks(metrics: dict[str, float]) -> list[str]:
    """Benchmarks with a pass@1 (on all problems or on the curve subset) in ``metrics``, sorted."""
    names = set()
    for key in metrics:
        parts = key.split("/")
        if parts[0] == "eval" and parts[-1] == "pass@1" and len(parts) in (3, 4):
            names.add(parts[1])
    return sorted(names)


def curve_accuracy(metrics: dict[str, float]) -> float | None:
    """Mean over benchmarks of pass@1 on the curve's problems (what the collapse rule compares); None if none."""
    values = [metrics[curve_key(metrics, b)] for b in evaluated_benchmarks(metrics)]
    return sum(values) / len(values) if values else None
