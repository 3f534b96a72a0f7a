"""Tables from the tidy sweep table: stability versus performance per run, and the paper's Table 2 layout."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from redi.analysis.columns import CONFIG_KEYS, HYPERPARAMETERS, format_value
from redi.analysis.load import benchmarks, curve_column, runs

START_LABEL = "stage 1 (start)"
OBJECTIVE_ORDER = {"sft": 0, "dpo": 1, "simpo": 2, "redi": 3}  # the paper's row order


def accuracy(frame: pd.DataFrame, benchmark: str | None = None) -> pd.Series:
    """pass@1 of ``benchmark`` on the curve's problems (redi.analysis.load.curve_column), or the mean over every
    benchmark when None (NaN where no evaluation was logged)."""
    names = [benchmark] if benchmark else benchmarks(frame)
    cols = [curve_column(b) for b in names if curve_column(b) in frame.columns]
    if not cols:
        return pd.Series(np.nan, index=frame.index)
    return frame[cols].mean(axis=1, skipna=False)


def replay_collapse(run_frame: pd.DataFrame, rule: Mapping[str, Any] | None = None) -> int | None:
    """The step at which the trainer's collapse rule (redi.loop.collapse) fires on this run's logged curves, or None.

    Used when the run itself did not record one (rule disabled, or an older run): the same rule, replayed
    on the logged per-step log-probs and evaluations (exact when every step was logged).
    """
    from redi.config import CollapseConfig
    from redi.loop.collapse import CollapseDetector

    if "train/logps_chosen_per_token" not in run_frame or "train/logps_rejected_per_token" not in run_frame:
        return None
    known = {k: v for k, v in dict(rule or {}).items() if k in CollapseConfig.__dataclass_fields__}
    known["enabled"] = True
    detector = CollapseDetector(CollapseConfig(**known))
    acc = accuracy(run_frame)
    for idx, row in run_frame.dropna(subset=["step"]).sort_values("step").iterrows():
        step = int(row["step"])
        chosen, rejected = row.get("train/logps_chosen_per_token"), row.get("train/logps_rejected_per_token")
        if (
            pd.notna(chosen)
            and pd.notna(rejected)
            and detector.observe_step(step, float(chosen), float(rejected))
        ):
            return step
        if pd.notna(acc[idx]) and detector.observe_eval(step, float(acc[idx])):
            return step
    return None


def _window_mean(series: pd.Series, head: bool, n: int = 5) -> float:
    values = series.dropna()
    if values.empty:
        return math.nan
    return float((values.head(n) if head else values.tail(n)).mean())


def stability_summary(frame: pd.DataFrame, benchmark: str | None = None) -> pd.DataFrame:
    """Per run: start, peak and final accuracy, the drop from the peak, the collapse step, the log-prob drift.

    Accuracy is pass@1 of ``benchmark`` (the mean over benchmarks when None). ``collapse_step`` is the one the
    run recorded; when it recorded none, the trainer's rule replayed on the curves (``collapse_by`` says which).
    Log-probs are mean per-token values averaged over the first / last five logged steps.
    """
    rows = []
    rules = frame.attrs.get("collapse", {})
    for run_name, g in frame.groupby("run", sort=False):
        # a run that logged nothing yet (pending, or failed before the first step) keeps its one empty row
        empty = g["step"].isna().all()
        g = g.head(1) if empty else g.dropna(subset=["step"]).sort_values("step")
        first = g.iloc[0]
        acc = accuracy(g, benchmark)
        evals = g.loc[acc.notna(), "step"]
        acc = acc.dropna()
        recorded = first["collapse_step"]
        replayed = None if pd.notna(recorded) else replay_collapse(g, rules.get(run_name))
        row = {
            "run": run_name,
            "config": first["config"],
            "objective": first["objective"],
            **{k: first[k] for k in HYPERPARAMETERS},
            "lr": first["lr"],
            "seed": first["seed"],
            "status": first["status"],
            "start_acc": float(acc.iloc[0]) if len(acc) and int(evals.iloc[0]) == 0 else math.nan,
            "peak_acc": float(acc.max()) if len(acc) else math.nan,
            "peak_step": int(evals.loc[acc.idxmax()]) if len(acc) else pd.NA,
            "final_acc": float(acc.iloc[-1]) if len(acc) else math.nan,
            "final_step": int(evals.iloc[-1]) if len(acc) else pd.NA,
            "collapse_step": int(recorded)
            if pd.notna(recorded)
            else (replayed if replayed is not None else pd.NA),
            "collapse_by": "run" if pd.notna(recorded) else ("replay" if replayed is not None else ""),
        }
        row["drop_from_peak"] = row["peak_acc"] - row["final_acc"]
        for key in ("chosen", "rejected"):
            col = f"train/logps_{key}_per_token"  # the columns logps_{key}_start/_end: per-token means
            series = g[col] if col in g else pd.Series(dtype=float)
            row[f"logps_{key}_start"] = _window_mean(series, head=True)
            row[f"logps_{key}_end"] = _window_mean(series, head=False)
        norms = g["train/update_norm"].dropna() if "train/update_norm" in g else pd.Series(dtype=float)
        row["update_norm_max"] = float(norms.max()) if len(norms) else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["collapse_step"] = pd.array(out["collapse_step"], dtype="Int64")
        out = out.assign(_rank=out["objective"].map(OBJECTIVE_ORDER).fillna(len(OBJECTIVE_ORDER)))
        out = out.sort_values(["_rank", *CONFIG_KEYS, "seed"], na_position="first")
        out = out.drop(columns="_rank")
    return out.reset_index(drop=True)


def _config_curves(frame: pd.DataFrame, benches: Sequence[str]) -> pd.DataFrame:
    """Per configuration and evaluation step: pass@1 and its SEM per benchmark, averaged over the seeds."""
    cols = [curve_column(b) for b in benches]
    evals = frame.dropna(subset=cols, how="all")
    rows = []
    for (config, step), g in evals.groupby(["config", "step"], sort=False):
        row: dict[str, Any] = {
            "config": config,
            "objective": g["objective"].iloc[0],
            "step": int(step),
            "seeds": g["run"].nunique(),
        }
        for b in benches:
            acc, sem = g[curve_column(b)].dropna(), g.get(curve_column(b, "pass@1_sem"))
            row[b] = float(acc.mean()) if len(acc) else math.nan
            # the mean of n independent estimates: SEM = sqrt(sum sem_i^2) / n
            sems = sem.dropna() if sem is not None else pd.Series(dtype=float)
            row[f"{b}_sem"] = float(np.sqrt((sems**2).sum()) / len(sems)) if len(sems) else math.nan
        row["avg"] = float(np.mean([row[b] for b in benches]))
        rows.append(row)
    return pd.DataFrame(rows)


def table2(frame: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 layout: the best checkpoint per configuration, pass@1 (%) and SEM per benchmark.

    The best checkpoint is the evaluation step with the highest average pass@1 over benchmarks (seeds averaged
    first). The first row is the starting model (the step-0 evaluations, which every preference run shares).
    Columns: config, objective, best_step, seeds, then <benchmark> and <benchmark>_sem for each, then avg.
    """
    benches = benchmarks(frame)
    if not benches:
        return pd.DataFrame(columns=["config", "objective", "best_step", "seeds", "avg"])
    curves = _config_curves(frame, benches)
    rows = []
    start = curves[curves["step"] == 0]
    if not start.empty:
        row: dict[str, Any] = {
            "config": START_LABEL,
            "objective": "sft",
            "best_step": 0,
            "seeds": int(start["seeds"].sum()),
        }
        for b in benches:
            row[b] = float(start[b].mean())
            # every run starts from the same stage-1 model: its evaluations are repeats, not independent seeds
            row[f"{b}_sem"] = float(start[f"{b}_sem"].mean())
        row["avg"] = float(np.mean([row[b] for b in benches]))
        rows.append(row)
    order = runs(frame).drop_duplicates("config")
    order = order.assign(_rank=order["objective"].map(OBJECTIVE_ORDER).fillna(len(OBJECTIVE_ORDER)))
    order = order.sort_values(["_rank", *CONFIG_KEYS], na_position="first")
    for config in order["config"]:
        c = curves[curves["config"] == config]
        if c.empty:
            continue
        best = c.loc[c["avg"].idxmax()]
        rows.append(
            {
                "config": config,
                "objective": best["objective"],
                "best_step": int(best["step"]),
                "seeds": int(best["seeds"]),
                **{k: best[k] for k in [*(x for b in benches for x in (b, f"{b}_sem")), "avg"]},
            }
        )
    out = pd.DataFrame(rows)
    for col in [*benches, *(f"{b}_sem" for b in benches), "avg"]:
        out[col] = 100.0 * out[col].astype(float)
    return out


# ---------------------------------------------------------------------------------------------------------------
# text


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float | np.floating):
        if abs(value) < 1e-12:
            return f"{0.0:.{digits}f}"
        if abs(value) < 1e-3:
            return format_value(float(value))
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table (no extra dependency)."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, rule]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(v, digits).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def table2_markdown(table: pd.DataFrame) -> str:
    """Table 2 as the paper prints it: ``81.7 ± 0.4`` per benchmark, then the average and the best step."""
    benches = [c for c in table.columns if f"{c}_sem" in table.columns]
    shown = pd.DataFrame({"config": table["config"]})
    for b in benches:
        shown[b] = [
            f"{a:.1f} ± {s:.1f}" if pd.notna(a) else "-"
            for a, s in zip(table[b], table[f"{b}_sem"], strict=True)
        ]
    shown["avg"] = [f"{a:.1f}" for a in table["avg"]]
    shown["best step"] = table["best_step"].astype(str)
    shown["seeds"] = table["seeds"].astype(str)
    return to_markdown(shown)


SUMMARY_COLUMNS = (
    "config",
    "seed",
    "status",
    "start_acc",
    "peak_acc",
    "peak_step",
    "final_acc",
    "final_step",
    "drop_from_peak",
    "collapse_step",
    "logps_chosen_start",
    "logps_chosen_end",
    "logps_rejected_start",
    "logps_rejected_end",
    "update_norm_max",
)


def summary_markdown(summary: pd.DataFrame) -> str:
    """The stability-versus-performance summary as a markdown table (the most telling columns)."""
    return to_markdown(summary[[c for c in SUMMARY_COLUMNS if c in summary.columns]])
