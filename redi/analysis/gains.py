"""Every configuration of a sweep as the paired gain over the alpha = 0 control at the same lr and seed.

The control is REDI with alpha = 0 (SFT on the positives, on the same batches in the same order), so the
difference isolates what the negatives' term (or the preference objective) adds. Two gains per configuration:
- best: its best checkpoint minus the control's best checkpoint (the evaluation step with the highest
  seed-averaged pass@1, chosen for each configuration the same way, as the paper's Table 2 does);
- final: its last evaluation minus the control's last evaluation.
A gap between the two is a collapse: the run was ahead at some step and lost it.
Scores are per problem from ``eval/step_N.jsonl`` of both runs, paired by problem and seed
(:func:`redi.eval.paired.paired_gain`); a sweep read from W&B has no such files and gets NaNs.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from redi.analysis.load import (
    CONFIG_KEYS,
    HYPERPARAMETERS,
    benchmarks,
    config_label,
    eval_steps,
    problem_scores,
    runs,
)
from redi.analysis.tables import OBJECTIVE_ORDER, accuracy, to_markdown
from redi.eval.paired import NAN_GAIN, PairedGain, mean_gain, paired_gain

log = logging.getLogger(__name__)

GAIN_COLUMNS = (
    "series",
    "config",
    "objective",
    *HYPERPARAMETERS,
    "lr",
    "seeds",
    "varies",
    "final_acc",
    "control_acc",
    "final_gain",
    "final_se",
    "final_low",
    "final_high",
    "per_replicate",
    "best_step",
    "control_best_step",
    "best_gain",
    "best_se",
    "problems",
)


SWAPPED = "labels swapped"


def is_control(table: pd.DataFrame) -> pd.Series:
    """REDI runs with alpha = 0 on pairs as built: the control every other configuration is paired with."""
    swapped = table["variant"].fillna("").str.contains(SWAPPED, regex=False)
    return (
        (table["objective"] == "redi") & np.isclose(table["alpha"].astype(float).fillna(-1.0), 0.0) & ~swapped
    )


def control_variant(variant: str) -> str:
    """The control's data for a variant: the same data, labels as built (a label inversion's control is SFT on
    the positives, not on the negatives)."""
    return ", ".join(part for part in variant.split(", ") if part and part != SWAPPED)


def series_label(row: pd.Series) -> str:
    """A configuration's name without its lr (one line of the stability figure), e.g. ``REDI alpha=0.8``."""
    hyper = {k: row[k] for k in HYPERPARAMETERS if pd.notna(row[k])}
    return config_label(row["objective"], hyper, None, variant=row.get("variant") or "")


def _best_step(frame: pd.DataFrame, run_names: list[str], benchmark: str | None) -> int | None:
    """The evaluation step with the highest pass@1 averaged over the given runs (the seeds of one configuration)."""
    g = frame[frame["run"].isin(run_names)].dropna(subset=["step"])
    acc = accuracy(g, benchmark)
    curve = acc.groupby(g["step"].astype(int)).mean().dropna()
    return int(curve.idxmax()) if len(curve) else None


def _scores(frame: pd.DataFrame, location: str, step: int | None, benchmark: str | None) -> pd.Series | None:
    if step is None:
        return None
    try:
        return problem_scores(frame, location, step, benchmark)
    except (FileNotFoundError, OSError):
        return None


def _gain(pairs: list[tuple[pd.Series, pd.Series]], benches: list[str]) -> PairedGain:
    """One benchmark: the paired gain; several: the mean of the benchmarks' gains (the paper's avg)."""
    if not pairs:
        return NAN_GAIN
    if len(benches) <= 1:
        return paired_gain(pairs)
    per = []
    for b in benches:
        per.append(
            paired_gain(
                [
                    (t.loc[t.index.get_level_values(0) == b], c.loc[c.index.get_level_values(0) == b])
                    for t, c in pairs
                ]
            )
        )
    return mean_gain(per)


def replicate_key(info: pd.DataFrame) -> pd.Series:
    """What pairs a run with its control: every seed of the config (``replicate``), or the seed alone."""
    if "replicate" in info:
        return info["replicate"].fillna("").astype(str)
    return info["seed"].astype("float").fillna(-1.0).astype(str)


def replicate_varies(replicates: pd.Series) -> str:
    """The seed keys whose values differ between a configuration's replicates, e.g. ``seed, stage1.seed``."""
    values: dict[str, set[str]] = {}
    for text in replicates.dropna():
        for part in str(text).split(", "):
            if "=" in part:
                key, value = part.split("=", 1)
                values.setdefault(key, set()).add(value)
    return ", ".join(k for k in sorted(values) if len(values[k]) > 1)


def _mean_score(scores: list[pd.Series]) -> float:
    """Mean pass@1 over replicates (each the mean of its per-problem scores); NaN with none."""
    return float(np.mean([s.mean() for s in scores])) if scores else math.nan


def _last_step(frame: pd.DataFrame, location: str) -> int | None:
    steps = eval_steps(frame, location)
    return steps[-1] if steps else None


def gains_table(frame: pd.DataFrame, benchmark: str | None = None) -> pd.DataFrame:
    """One row per non-control configuration: its paired best and final gains over the control (fractions).

    ``benchmark``: the one to score (default: every benchmark, averaged as the paper's avg column). Rows are in the
    runs table's order; a configuration with no control at its lr (or no seed in common) has NaN gains.
    """
    info = runs(frame)
    if info.empty:
        return pd.DataFrame(columns=list(GAIN_COLUMNS))
    benches = [benchmark] if benchmark else benchmarks(frame)
    info = info.assign(_replicate=replicate_key(info))
    control = info[is_control(info)]
    control_best: dict[tuple[float, str], int | None] = {}
    rows: list[dict[str, Any]] = []
    for config, g in info[~is_control(info)].groupby("config", sort=False):
        first = g.iloc[0]
        lr = float(first["lr"]) if pd.notna(first["lr"]) else math.nan
        base = control_variant(first["variant"] or "")
        ctrl = control[control["variant"].fillna("") == base]
        ctrl = ctrl[np.isclose(ctrl["lr"].astype(float), lr)] if not math.isnan(lr) else ctrl.iloc[0:0]
        if (lr, base) not in control_best:
            control_best[lr, base] = _best_step(frame, ctrl["run"].tolist(), benchmark) if len(ctrl) else None
        best_t = _best_step(frame, g["run"].tolist(), benchmark)
        best_pairs, final_pairs = [], []
        for _, t in g.iterrows():
            c = ctrl[ctrl["_replicate"] == t["_replicate"]]
            if c.empty:
                continue
            t_dir, c_dir = str(t["location"]), str(c["location"].iloc[0])
            pair = (
                _scores(frame, t_dir, best_t, benchmark),
                _scores(frame, c_dir, control_best[lr, base], benchmark),
            )
            if pair[0] is not None and pair[1] is not None:
                best_pairs.append(pair)
            pair = (
                _scores(frame, t_dir, _last_step(frame, t_dir), benchmark),
                _scores(frame, c_dir, _last_step(frame, c_dir), benchmark),
            )
            if pair[0] is not None and pair[1] is not None:
                final_pairs.append(pair)
        best, final = _gain(best_pairs, benches), _gain(final_pairs, benches)
        low, high = final.interval() if final_pairs else (math.nan, math.nan)
        rows.append(
            {
                "series": series_label(first),
                "config": config,
                "objective": first["objective"],
                **{k: first[k] for k in HYPERPARAMETERS},
                "lr": lr,
                "seeds": max(best.seeds, final.seeds),
                "varies": replicate_varies(g["replicate"]),
                "final_acc": _mean_score([t for t, _ in final_pairs]),
                "control_acc": _mean_score([c for _, c in final_pairs]),
                "final_gain": final.gain,
                "final_se": final.se,
                "final_low": low,
                "final_high": high,
                "per_replicate": " ".join(f"{100 * _gain([p], benches).gain:+.1f}" for p in final_pairs),
                "best_step": best_t if best_t is not None else pd.NA,
                "control_best_step": control_best[lr, base] if control_best[lr, base] is not None else pd.NA,
                "best_gain": best.gain,
                "best_se": best.se,
                "problems": max(best.problems, final.problems),
            }
        )
    out = pd.DataFrame(rows, columns=list(GAIN_COLUMNS))
    if len(out):
        rank = out["objective"].map(OBJECTIVE_ORDER).fillna(len(OBJECTIVE_ORDER))
        out = out.assign(_rank=rank).sort_values(["_rank", *CONFIG_KEYS])
        out = out.drop(columns="_rank").reset_index(drop=True)
    for col in ("best_step", "control_best_step"):
        out[col] = pd.array(out[col], dtype="Int64")
    return out


def gains_markdown(table: pd.DataFrame) -> str:
    """The gains table as markdown, in points: the final gain ``+1.8 ± 0.6`` (paired SE over problems and
    replicates), its 95 % interval (t with replicates - 1 df for 2-5 replicates), each replicate's gain, and the
    best checkpoint's gain."""

    def cell(gain: float, se: float) -> str:
        return "-" if pd.isna(gain) else f"{100 * gain:+.1f} ± {100 * se:.1f}"

    def accuracy(value: float) -> str:
        return "-" if pd.isna(value) else f"{value:.3f}"

    shown = pd.DataFrame(
        {
            "config": table["config"],
            "replicates": table["seeds"].astype(str),
            "pass@1 (control)": [
                f"{accuracy(a)} ({accuracy(c)})" if pd.notna(a) else "-"
                for a, c in zip(table["final_acc"], table["control_acc"], strict=True)
            ],
            "final - control (points)": [
                cell(g, s) for g, s in zip(table["final_gain"], table["final_se"], strict=True)
            ],
            "95% CI": [
                "-" if pd.isna(lo) else f"{100 * lo:+.1f} to {100 * hi:+.1f}"
                for lo, hi in zip(table["final_low"], table["final_high"], strict=True)
            ],
            "per replicate": [p or "-" for p in table["per_replicate"].fillna("")],
            "best - control (points)": [
                cell(g, s) for g, s in zip(table["best_gain"], table["best_se"], strict=True)
            ],
            "step (control)": [
                f"{b} ({c if pd.notna(c) else '-'})" if pd.notna(b) else "-"
                for b, c in zip(table["best_step"], table["control_best_step"], strict=True)
            ],
            "problems": table["problems"].astype(str),
        }
    )
    varies = sorted({v for v in table["varies"].fillna("") if v})
    note = (
        "\nPaired gain over the REDI alpha = 0 control (same lr, seeds and data) on the same problems, in pass@1 "
        "points, at the final evaluation and at each side's best checkpoint; ± is the paired standard error over "
        "problems and replicates, the 95% CI uses Student's t with replicates - 1 degrees of freedom for 2-5 "
        "replicates (redi/eval/paired.py). "
        + (f"A replicate varies {'; '.join(varies)}.\n" if varies else "One replicate per configuration.\n")
    )
    return to_markdown(shown) + note


def write_sweep_gains(sweep_dir: str | Path) -> Path | None:
    """Print the sweep's gains table and write it beside members.tsv (gains.md, gains.csv); None when no member
    has a control to pair with. Never raises: a sweep that trained must not fail on its report."""
    from redi.analysis.load import load_sweep

    sweep_dir = Path(sweep_dir)
    try:
        table = gains_table(load_sweep(sweep_dir))
        table = table[table["seeds"] > 0]
        if table.empty:
            log.info(
                "sweep %s: no member paired with an alpha = 0 control (control=false?): no gains table",
                sweep_dir,
            )
            return None
        text = gains_markdown(table)
        table.to_csv(sweep_dir / "gains.csv", index=False)
        (sweep_dir / "gains.md").write_text(text)
    except Exception as e:  # noqa: BLE001  (the report is a convenience; the runs and members.tsv are what count)
        log.warning("sweep %s: the gains table could not be written: %s", sweep_dir, e)
        return None
    print(f"\npaired gains over the alpha = 0 control ({sweep_dir / 'gains.md'}):\n{text}", flush=True)
    return sweep_dir / "gains.md"
