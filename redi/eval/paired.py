"""Paired gains: one model's pass@1 minus another's on the same problems, with a standard error over problems and seeds.

The paper's SEM (``redi.eval.metrics.pass_at_1_sem``) covers only the sampling of the k answers. Comparing two
models on the same problems is a paired design: the per-problem difference of their scores removes the problems'
own difficulty, so its standard error is far smaller than that of either accuracy, and it also counts the
problems as a sample (a new benchmark of the same kind would give another number).

A score is a problem's mean correctness over its k samples, read from ``eval/step_N.jsonl`` of a run directory.
With S seeds (runs pairing treatment s with control s), d[s, p] = treatment - control on problem p, and

    gain = mean over s and p of d[s, p]
    SE^2 = var_p(mean_s d[s, p]) / P  +  var_s(mean_p d[s, p]) / S      (ddof 1; the seed term is 0 when S = 1)

the first term the problems' spread, the second the seeds' (training randomness: batch order, sampling). Both
terms contain the answers' sampling noise, so the SE errs on the safe side. With one seed it is the usual paired
standard error std(d) / sqrt(P).

A seed here is a replicate: whatever the runs paired as seeds differ in (the stage-2 seed; also the stage-1 model
or the teacher's draw when those were varied). ``varies`` names it. The seeds' term rests on S - 1 degrees of
freedom, so with 5 or fewer replicates the 95 % interval is gain +- t(S - 1) x SE (Student's t: 12.71 with 2
replicates, 4.30 with 3, 3.18 with 4, 2.78 with 5), and +- 1.96 x SE otherwise (one replicate: the problems'
term alone, over hundreds of problems).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

#: Student's t, two-sided 95 %, by degrees of freedom (replicates - 1) for 2-5 replicates.
T_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776}
NORMAL_95 = 1.96
MAX_T_REPLICATES = 5


@dataclass(frozen=True)
class PairedGain:
    """A paired difference of pass@1 (treatment minus control, as a fraction), its SE, and what it rests on.

    ``seeds`` counts the replicates, ``per_seed`` their gains, ``varies`` what a replicate varies (e.g. ``seed``).
    """

    gain: float
    se: float
    problems: int
    seeds: int
    per_seed: tuple[float, ...] = field(default_factory=tuple)
    varies: str = ""

    @property
    def multiplier(self) -> float:
        """The 95 % interval's half-width in SEs: t with replicates - 1 df for 2-5 replicates, else 1.96."""
        if 2 <= self.seeds <= MAX_T_REPLICATES:
            return T_95[self.seeds - 1]
        return NORMAL_95

    def interval(self) -> tuple[float, float]:
        """The 95 % interval (low, high) of the gain (see the module docstring)."""
        half = self.multiplier * self.se
        return self.gain - half, self.gain + half

    def describe_interval(self, scale: float = 100.0) -> str:
        """``95% CI +1.4 to +6.0 (t, 2 df; 3 replicates varying seed)``."""
        if math.isnan(self.gain):
            return "n/a"
        low, high = self.interval()
        how = f"t, {self.seeds - 1} df" if 2 <= self.seeds <= MAX_T_REPLICATES else "normal"
        reps = f"{self.seeds} replicate{'s' if self.seeds != 1 else ''}"
        if self.varies:
            reps += f" varying {self.varies}"
        return f"95% CI {scale * low:+.1f} to {scale * high:+.1f} ({how}; {reps})"

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}gain": self.gain,
            f"{prefix}gain_se": self.se,
            f"{prefix}gain_problems": float(self.problems),
            f"{prefix}gain_seeds": float(self.seeds),
        }

    def format(self, scale: float = 100.0, unit: str = " points") -> str:
        """``+1.8 ± 0.6 points (paired SE, 300 problems, 1 seed)``."""
        if math.isnan(self.gain):
            return "n/a (no problems in common)"
        seeds = f", {self.seeds} seeds" if self.seeds != 1 else ", 1 seed"
        return (
            f"{scale * self.gain:+.1f} ± {scale * self.se:.1f}{unit} (paired SE over problems{' and seeds' if self.seeds > 1 else ''}, "
            f"{self.problems} problems{seeds})"
        )


NAN_GAIN = PairedGain(math.nan, math.nan, 0, 0)


def problem_scores(run_dir: str | Path, step: int, benchmark: str | None = None) -> pd.Series:
    """Per-problem mean correctness at ``step`` of a run: a Series indexed by (benchmark, prompt_id).

    Reads ``<run_dir>/eval/step_<step>.jsonl`` (one line per sample, redi.eval.evaluate). ``benchmark`` keeps one
    benchmark. Raises FileNotFoundError naming the file when that evaluation was not written.
    """
    path = Path(run_dir) / "eval" / f"step_{int(step)}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no per-sample evaluation at step {step}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame(rows, columns=["benchmark", "prompt_id", "correct"])
    if benchmark is not None:
        frame = frame[frame["benchmark"] == benchmark]
    frame["prompt_id"] = frame["prompt_id"].astype(str)
    frame["correct"] = frame["correct"].astype(float)
    return frame.groupby(["benchmark", "prompt_id"], sort=True)["correct"].mean()


def eval_steps(run_dir: str | Path) -> list[int]:
    """The steps with a per-sample evaluation file in ``run_dir/eval``, ascending."""
    directory = Path(run_dir) / "eval"
    steps = []
    for path in directory.glob("step_*.jsonl") if directory.is_dir() else []:
        suffix = path.stem.removeprefix("step_")
        if suffix.isdigit():
            steps.append(int(suffix))
    return sorted(steps)


def paired_gain(pairs: Iterable[tuple[pd.Series, pd.Series]], varies: str = "") -> PairedGain:
    """The paired gain of treatment over control, one (treatment, control) pair of score Series per replicate.

    Only problems scored in every series enter (the same problems for every replicate, so the problems' term is
    well defined); returns NaNs when none are shared. ``varies``: what a replicate varies, carried into the
    result for its interval's description. See the module docstring for the estimator.
    """
    pairs = list(pairs)
    if not pairs:
        return NAN_GAIN
    common = None
    for treat, control in pairs:
        shared = treat.index.intersection(control.index)
        common = shared if common is None else common.intersection(shared)
    if common is None or len(common) == 0:
        return NAN_GAIN
    d = np.stack([treat.loc[common].to_numpy() - control.loc[common].to_numpy() for treat, control in pairs])
    return replace(gain_from_differences(d), varies=varies)


def gain_from_differences(d: np.ndarray) -> PairedGain:
    """The estimator on a [seeds, problems] array of per-problem differences."""
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    seeds, problems = d.shape
    per_seed = d.mean(axis=1)
    problem_term = d.mean(axis=0).var(ddof=1) / problems if problems > 1 else 0.0
    seed_term = per_seed.var(ddof=1) / seeds if seeds > 1 else 0.0
    return PairedGain(
        gain=float(d.mean()),
        se=float(math.sqrt(problem_term + seed_term)),
        problems=problems,
        seeds=seeds,
        per_seed=tuple(float(x) for x in per_seed),
    )


def mean_gain(gains: Sequence[PairedGain]) -> PairedGain:
    """The mean of several benchmarks' gains (the paper's "avg" column): SE = sqrt(sum SE^2) / n."""
    gains = [g for g in gains if not math.isnan(g.gain)]
    if not gains:
        return NAN_GAIN
    n = len(gains)
    return PairedGain(
        gain=sum(g.gain for g in gains) / n,
        se=math.sqrt(sum(g.se**2 for g in gains)) / n,
        problems=sum(g.problems for g in gains),
        seeds=min(g.seeds for g in gains),
    )


def run_gain(run_dir: str | Path, step: int, baseline_step: int = 0) -> dict[str, PairedGain]:
    """A run's gain at ``step`` over its own evaluation at ``baseline_step`` (step 0: the starting model), per benchmark.

    Keys are benchmark names, plus "mean" when there are several. Empty when either evaluation is missing.
    """
    try:
        after = problem_scores(run_dir, step)
        before = problem_scores(run_dir, baseline_step)
    except FileNotFoundError:
        return {}
    out: dict[str, PairedGain] = {}
    for bench in sorted(set(after.index.get_level_values(0)) & set(before.index.get_level_values(0))):
        out[bench] = paired_gain([(after.loc[[bench]], before.loc[[bench]])])
    if len(out) > 1:
        out["mean"] = mean_gain(list(out.values()))
    return out


def gain_metrics(run_dir: str | Path, step: int, baseline_step: int = 0) -> dict[str, float]:
    """A run's paired gain at ``step`` over ``baseline_step`` as flat metrics for status.json and the W&B summary.

    Keys ``gain/<benchmark>/pass@1``, ``gain/<benchmark>/pass@1_se`` and ``gain/<benchmark>/problems``; empty when
    either evaluation is missing (no evaluation at the start, or the run ended at its start).
    """
    if step == baseline_step:
        return {}
    out: dict[str, float] = {}
    for bench, g in run_gain(run_dir, step, baseline_step).items():
        out[f"gain/{bench}/pass@1"] = g.gain
        out[f"gain/{bench}/pass@1_se"] = g.se
        out[f"gain/{bench}/problems"] = float(g.problems)
    return out


def format_gain_metrics(metrics: dict[str, float]) -> str:
    """``synthetic +1.8 ± 0.6 points (paired SE, 300 problems)`` for every benchmark in :func:`gain_metrics`'s output."""
    parts = []
    for key in sorted(k for k in metrics if k.startswith("gain/") and k.endswith("/pass@1")):
        bench = key.split("/")[1]
        se, n = metrics.get(key + "_se", math.nan), metrics.get(f"gain/{bench}/problems", 0)
        parts.append(
            f"{bench} {100 * metrics[key]:+.1f} ± {100 * se:.1f} points (paired SE, {int(n)} problems)"
        )
    return ", ".join(parts)
