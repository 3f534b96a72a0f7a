"""Load a sweep into one tidy table: a row per (run, step), config columns, one column per logged metric.

The runs come from a sweep directory, a committed sweep's raw/ or a W&B group (redi.analysis.records), and give the
same columns (redi.analysis.columns) from each.

Rows that share a step (training metrics and an evaluation logged at the same step) are merged into one row.
The per-step accuracy every curve, best step and collapse replay reads is ``eval/<bench>/curve/<metric>``
(:func:`curve_column`): the curve subset a run logged with ``eval.curve_limit``, else its plain
``eval/<bench>/<metric>`` (it scored every problem at every point), so each curve scores the same problems.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from redi.analysis import raw
from redi.analysis.columns import HYPERPARAMETERS, RUN_COLUMNS, config_label, data_variant, number_or_none
from redi.analysis.pairing import arm_labels
from redi.analysis.records import (
    RunRecord,
    parse_wandb_spec,
    records_from_dir,
    records_from_raw,
    records_from_wandb,
    resolve_sweep,
)

__all__ = [
    "CURVE_METRICS",
    "RUN_COLUMNS",
    "add_curve_columns",
    "benchmarks",
    "current_names",
    "curve_column",
    "frame_from_records",
    "load_sweep",
    "long_form",
    "parse_wandb_spec",
    "runs",
]


def _int_or_none(value: Any) -> int | None:
    number = number_or_none(value)
    return None if number is None or math.isnan(number) else int(number)


# runs logged before the metrics took TRL's names wrote the per-token means under TRL's keys (logps/chosen is a
# sum there): a row without the per-token key reads its old key as the per-token mean
_PER_TOKEN = {
    "train/logps_chosen": "train/logps_chosen_per_token",
    "train/logps_rejected": "train/logps_rejected_per_token",
}


def current_names(row: Mapping[str, Any]) -> dict[str, Any]:
    """A logged row with today's metric names (an older run's per-token log-probs under their own key)."""
    if any(new in row for new in _PER_TOKEN.values()):
        return dict(row)
    return {_PER_TOKEN.get(key, key): value for key, value in row.items()}


def frame_from_records(records: Iterable[RunRecord]) -> pd.DataFrame:
    """The tidy table: RUN_COLUMNS, ``step``, then one column per metric (sorted), a row per (run, step), then the
    curve columns (:func:`add_curve_columns`)."""
    records = list(records)
    parts = []
    metric_names: set[str] = set()
    arms = arm_labels({r.run: r.config.get("arm") or {} for r in records if r.config.get("mode") != "stage1"})
    for rec in records:
        objective = rec.config.get("objective.name")
        hyper = {k: number_or_none(rec.config.get(k)) for k in HYPERPARAMETERS}
        lr = number_or_none(rec.config.get("lr"))
        steps: dict[int, dict[str, Any]] = {}
        for row in map(current_names, rec.history):
            step = _int_or_none(row.get("step"))
            if step is None:
                continue
            merged = steps.setdefault(step, {})
            for key, value in row.items():
                if key != "step" and "/" in key:
                    metric_names.add(key)
                    number = number_or_none(value)
                    if number is not None and not math.isnan(
                        number
                    ):  # an absent value never erases a logged one
                        merged[key] = number
        run_info = {
            "run": rec.run,
            "run_id": rec.run_id,
            "config": config_label(objective, hyper, lr, variant=data_variant(rec.config)),
            "variant": data_variant(rec.config),
            "objective": objective,
            **hyper,
            "lr": lr,
            "seed": _int_or_none(rec.config.get("seed")),
            "replicate": rec.config.get("replicate") or "",
            "arm": arms.get(rec.run, ""),
            "mode": rec.config.get("mode") or "train",
            "status": rec.status.get("state"),
            "collapse_step": _int_or_none(rec.status.get("collapse_step")),
            "final_step": _int_or_none(rec.status.get("step"))
            if rec.status.get("step") is not None
            else (max(steps) if steps else None),
            "location": rec.location,
        }
        if not steps:  # a run that logged nothing still appears, with no step
            parts.append({**run_info, "step": None})
        for step in sorted(steps):
            parts.append({**run_info, "step": step, **steps[step]})
    metrics = sorted(metric_names)
    frame = pd.DataFrame(parts, columns=[*RUN_COLUMNS, "step", *metrics])
    for col in (*HYPERPARAMETERS, "lr", *metrics):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in ("seed", "collapse_step", "final_step", "step"):
        frame[col] = pd.array(frame[col], dtype="Int64")
    for col in ("run", "run_id", "config", "objective", "replicate", "arm", "mode", "status", "location"):
        frame[col] = frame[col].astype("object")
    frame = frame.sort_values(["run", "step"], kind="stable").reset_index(drop=True)
    return add_curve_columns(frame)


#: Evaluation metrics that have a curve column (the same problems at every step).
CURVE_METRICS = ("pass@1", "pass@1_sem", "mean_length", "truncated_frac")


def curve_column(benchmark: str, metric: str = "pass@1") -> str:
    """``eval/<benchmark>/curve/<metric>``: the metric on the problems every point of the run's curve scores."""
    return f"eval/{benchmark}/curve/{metric}"


def add_curve_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill each benchmark's curve columns: a run's logged curve subset where it has one, else its plain metric."""
    for bench in benchmarks(frame):
        logged = curve_column(bench)
        has_subset = (
            frame[logged].notna().groupby(frame["run"]).transform("any")
            if logged in frame
            else pd.Series(False, index=frame.index)
        )
        for metric in CURVE_METRICS:
            plain, curve = f"eval/{bench}/{metric}", curve_column(bench, metric)
            if plain not in frame and curve not in frame:
                continue
            subset = frame[curve] if curve in frame else pd.Series(float("nan"), index=frame.index)
            whole = frame[plain] if plain in frame else pd.Series(float("nan"), index=frame.index)
            frame[curve] = subset.where(has_subset, whole).astype("float64")
    return frame


def load_sweep(source: str | Path, *, api: Any = None) -> pd.DataFrame:
    """The tidy table of a sweep: a directory (of run directories, or a committed sweep with raw/), a sweep name
    under runs/sweeps, or ``wandb:<entity>/<project>/<group>``."""
    resolved = resolve_sweep(source)
    if isinstance(resolved, str):
        records = records_from_wandb(*parse_wandb_spec(resolved), api=api)
    elif raw.has_raw(resolved):
        records = records_from_raw(resolved)
    else:
        records = records_from_dir(resolved)
    frame = frame_from_records(records)
    frame.attrs["source"] = str(resolved)
    frame.attrs["collapse"] = {r.run: dict(r.collapse or {}) for r in records}
    return frame


def runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the run columns only."""
    return frame[list(RUN_COLUMNS)].drop_duplicates("run").reset_index(drop=True)


def benchmarks(frame: pd.DataFrame) -> list[str]:
    """Benchmarks with a pass@1 column (on all problems or the curve subset), e.g. ``["synthetic"]``."""
    names = {c.split("/")[1] for c in frame.columns if c.startswith("eval/") and c.endswith("/pass@1")}
    return sorted(names)


def long_form(frame: pd.DataFrame) -> pd.DataFrame:
    """The same data with one row per (run, step, metric): columns RUN_COLUMNS, step, metric, value."""
    metric_cols = [c for c in frame.columns if "/" in c]
    out = frame.melt(
        id_vars=[*RUN_COLUMNS, "step"], value_vars=metric_cols, var_name="metric", value_name="value"
    )
    return out.dropna(subset=["value"]).reset_index(drop=True)
