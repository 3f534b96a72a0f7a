"""What pairs a run with its control, and the gain over replicates with its t-interval.

A run's *replicate* is what a repeat of the same experiment draws anew: its seeds and the teacher's draw
(:data:`REPLICATE_KEYS`). Its *arm* is the synthetic task's other settings (``data.synthetic.*`` that are not
seeds, e.g. ``error_rate`` in a dose-response sweep): two arms are two experiments. A run pairs with the alpha = 0
control of the same replicate, arm and lr, on the problems both scored at their final evaluation.

The interval is over replicates, not problems: each replicate gives one paired gain (the mean over its problems of
treatment minus control), and with n replicates the 95 % interval is mean +- t(n - 1) x sd / sqrt(n). Replicates
with different data seeds score different held-out problems, so the problems cannot be pooled across them; the
problems' own noise is inside each replicate's gain, and the replicates' spread carries it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: The keys a replicate varies: the stage-2 seed, the stage-1 model's seed, the data's seed, the teacher's draw.
REPLICATE_KEYS = ("seed", "stage1.seed", "data.synthetic.seed", "data.synthetic.model_teacher.draw")
ARM_ROOT = "data.synthetic"
MODEL_TEACHER = "model_teacher"

#: Student's t, two-sided 95 % (the 0.975 quantile), by degrees of freedom 1-30.
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z_975 = 1.959964


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (the table to 30, then the
    Cornish-Fisher expansion in 1/df, within 1e-4 there)."""
    if df < 1:
        raise ValueError(f"t quantile: degrees of freedom must be >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def _node(config: Any) -> Any:
    from omegaconf import OmegaConf

    return config if OmegaConf.is_config(config) else OmegaConf.create(dict(config or {}))


def _select(node: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(node, key, default=None, throw_on_resolution_failure=False)
    return OmegaConf.to_container(value, resolve=False) if OmegaConf.is_config(value) else value


def replicate_of(config: Any) -> str:
    """``data.synthetic.seed=1234, seed=1, stage1.seed=42``: the replicate keys a composed config sets (sorted)."""
    node = _node(config)
    found = {}
    for key in REPLICATE_KEYS:
        value = _select(node, key)
        if isinstance(value, int) and not isinstance(value, bool):
            found[key] = value
    return ", ".join(f"{k}={v}" for k, v in sorted(found.items()))


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            _flatten(f"{prefix}.{key}", value[key], out)
    else:
        out[prefix] = json.dumps(value, sort_keys=True)


def arm_settings(config: Any) -> dict[str, str]:
    """The run's arm: every ``data.synthetic`` key that is not a seed or the draw, as JSON text. The model
    teacher's settings count only when the teacher is a model (``data.synthetic.teacher=model``)."""
    synthetic = _select(_node(config), ARM_ROOT)
    if not isinstance(synthetic, Mapping):
        return {}
    if synthetic.get("teacher") != "model":
        synthetic = {k: v for k, v in synthetic.items() if k != MODEL_TEACHER}
    flat: dict[str, str] = {}
    _flatten(ARM_ROOT, synthetic, flat)
    return {
        k: v for k, v in flat.items() if k not in REPLICATE_KEYS and not k.rsplit(".", 1)[-1].endswith("seed")
    }


def arm_labels(settings: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Each run's arm label from its settings (``run -> arm_settings``): the keys whose values differ between the
    runs, short (``error_rate=0.1``); "" when every run is in the same arm."""
    keys = sorted({k for s in settings.values() for k in s})
    varying = [k for k in keys if len({s.get(k) for s in settings.values()}) > 1]
    return {
        run: ", ".join(f"{k.removeprefix(ARM_ROOT + '.')}={_plain(s.get(k))}" for k in varying)
        for run, s in settings.items()
    }


def _plain(text: str | None) -> str:
    """A JSON value as written in a label: strings without quotes, absent as ``-``."""
    if text is None:
        return "-"
    value = json.loads(text)
    return value if isinstance(value, str) else text


def replicate_label(replicate: str, keys: Sequence[str]) -> str:
    """The replicate's values of ``keys`` (those that vary), ``seed=1 stage1.seed=42``."""
    values = dict(part.split("=", 1) for part in replicate.split(", ") if "=" in part)
    return " ".join(f"{k}={values.get(k, '-')}" for k in keys)


def varying_keys(replicates: Sequence[str]) -> list[str]:
    """The replicate keys whose values differ among ``replicates`` (sorted)."""
    values: dict[str, set[str]] = {}
    for text in replicates:
        for part in str(text).split(", "):
            if "=" in part:
                key, value = part.split("=", 1)
                values.setdefault(key, set()).add(value)
    return sorted(k for k, v in values.items() if len(v) > 1)


def replicate_gain(treatment: pd.Series, control: pd.Series) -> tuple[float, float, int]:
    """One replicate's paired gain on the problems both scored: (mean of treatment - control, its SE over the
    problems, the number of problems). Scores are indexed by (benchmark, prompt_id); with several benchmarks the
    gain is the mean of the benchmarks' gains (the paper's avg column)."""
    shared = treatment.index.intersection(control.index)
    if len(shared) == 0:
        return math.nan, math.nan, 0
    d = treatment.loc[shared] - control.loc[shared]
    per_bench = d.groupby(level=0, sort=True)
    means, variances = per_bench.mean(), per_bench.var(ddof=1).fillna(0.0) / per_bench.size()
    k = len(means)
    return float(means.mean()), float(math.sqrt(variances.sum()) / k), len(shared)


@dataclass(frozen=True)
class ReplicateGains:
    """The gains of one configuration's replicates (fractions), in replicate order, and what they give."""

    replicates: tuple[str, ...]
    gains: tuple[float, ...]
    problem_ses: tuple[float, ...]
    problems: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.gains)

    @property
    def mean(self) -> float:
        return sum(self.gains) / self.n if self.n else math.nan

    @property
    def se(self) -> float:
        """sd / sqrt(n) over the replicates' gains (ddof 1); with one replicate, its SE over problems."""
        if self.n == 0:
            return math.nan
        if self.n == 1:
            return self.problem_ses[0]
        m = self.mean
        return math.sqrt(sum((g - m) ** 2 for g in self.gains) / (self.n - 1) / self.n)

    def interval(self) -> tuple[float, float]:
        """The 95 % t-interval (n - 1 df); NaNs with fewer than 2 replicates (no spread to judge them by)."""
        if self.n < 2:
            return math.nan, math.nan
        half = t_quantile(self.n - 1) * self.se
        return self.mean - half, self.mean + half
