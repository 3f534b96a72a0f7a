"""Every configuration of a sweep as the paired gain over the alpha = 0 control of the same replicate, arm and lr.

The control is REDI with alpha = 0 on the teacher's pairs as built (SFT on the positives, same batches in the same
order), so the difference isolates what the negatives' term (or the preference objective) adds. A run pairs with
the control of its replicate, arm and lr (redi.analysis.pairing); treatment variants (REDI on the student's own
pairs, RFT = SFT on its own correct samples, label-swapped pairs) are rows of their own, paired with the same
plain control, never pooled with the plain runs of the same alpha. Two gains per row:
- final: both runs' last evaluation (all problems), the headline, with a t-interval over the replicates;
- best: each side's best checkpoint (the evaluation step with the highest replicate-averaged pass@1).
A gap between the two is a collapse. Only finished runs (a final state in status.json) enter; stage-1 runs that
sit in the sweep directory (mode=stage1) are no configuration. Markdown: redi.analysis.gains_text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from redi.analysis.columns import HYPERPARAMETERS, config_label
from redi.analysis.evaluations import eval_steps, problem_scores
from redi.analysis.load import runs
from redi.analysis.pairing import ReplicateGains, replicate_gain, varying_keys
from redi.analysis.tables import OBJECTIVE_ORDER, accuracy, stability_summary
from redi.infra.status import FINAL_STATES
from redi.infra.wandb_names import format_value

log = logging.getLogger(__name__)

GAIN_COLUMNS = (
    "series",
    "config",
    "treatment",
    "objective",
    *HYPERPARAMETERS,
    "lr",
    "arm",
    "replicates",
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
    "collapsed",
    "runs",
    "logps_chosen_end",
    "logps_rejected_end",
)

SWAPPED = "labels swapped"
SELF_GENERATED = "self-generated"
#: The treatments in the table's order: the teacher's pairs first, then the variants.
TREATMENTS = ("teacher's pairs", "student's own pairs", "RFT (own correct samples)", "labels swapped")


def is_control(table: pd.DataFrame) -> pd.Series:
    """REDI with alpha = 0 on the teacher's pairs as built (no self-generated data, labels not swapped)."""
    plain = table["variant"].fillna("") == ""
    return (table["objective"] == "redi") & np.isclose(table["alpha"].astype(float).fillna(-1.0), 0.0) & plain


def treatment(objective: str, variant: str) -> str:
    """Which of :data:`TREATMENTS` a run is, from its objective and data variant."""
    if SWAPPED in variant:
        return TREATMENTS[3]
    if SELF_GENERATED in variant:
        return TREATMENTS[2] if objective == "sft" else TREATMENTS[1]
    return TREATMENTS[0]


def series_label(row: pd.Series) -> str:
    """A configuration's name without its lr (one line of the stability figure), e.g. ``REDI alpha=0.8``."""
    hyper = {k: row[k] for k in HYPERPARAMETERS if pd.notna(row[k])}
    return config_label(row["objective"], hyper, None, variant=row.get("variant") or "")


def _stage2(info: pd.DataFrame) -> pd.Series:
    return info["mode"].fillna("train") != "stage1"


def _finished(info: pd.DataFrame) -> pd.Series:
    return info["status"].isin(FINAL_STATES)


def exclusions(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The runs the table leaves out, by reason: ``unfinished`` (``run (state)``) and ``stage1``."""
    info = runs(frame)
    stage2 = _stage2(info)
    open_runs = info[stage2 & ~_finished(info)]
    return {
        "unfinished": [f"{r} ({s})" for r, s in zip(open_runs["run"], open_runs["status"], strict=True)],
        "stage1": info.loc[~stage2, "run"].tolist(),
    }


class _Scores:
    """Per-problem scores of runs, read once: ``final(run)`` at its last evaluation, ``at(run, step)``."""

    def __init__(self, frame: pd.DataFrame, locations: dict[str, str], benchmark: str | None) -> None:
        self.frame, self.locations, self.benchmark = frame, locations, benchmark
        self.cache: dict[tuple[str, int], pd.Series | None] = {}

    def at(self, run: str, step: int | None) -> pd.Series | None:
        if step is None:
            return None
        if (run, step) not in self.cache:
            try:
                scores = problem_scores(self.frame, self.locations[run], step, self.benchmark)
            except (FileNotFoundError, OSError):
                scores = None
            self.cache[run, step] = scores
        return self.cache[run, step]

    def final(self, run: str) -> pd.Series | None:
        steps = eval_steps(self.frame, self.locations[run])
        return self.at(run, steps[-1]) if steps else None


def _mean_scores(scores: list[pd.Series | None]) -> pd.Series | None:
    """The per-problem mean over repeats of one replicate (usually one run), on the problems all scored."""
    present = [s for s in scores if s is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else pd.concat(present, axis=1, join="inner").mean(axis=1)


def _best_checkpoint(frame: pd.DataFrame, run_names: list[str], benchmark: str | None) -> dict[str, int]:
    """Each run's step at the runs' best checkpoint: the k-th evaluation with the highest pass@1 averaged over the
    runs (one row's replicates). Runs are aligned by their k-th evaluation, not its step: replicates whose data
    gave a different number of batches end a step apart (207 and 208) on the same schedule."""
    g = frame[frame["run"].isin(run_names)].dropna(subset=["step"])
    g = g.assign(_acc=accuracy(g, benchmark)).dropna(subset=["_acc"]).sort_values(["run", "step"])
    if g.empty:
        return {}
    g = g.assign(_k=g.groupby("run").cumcount())
    best = int(g.groupby("_k")["_acc"].mean().idxmax())
    at = g[g["_k"] == best]
    return dict(zip(at["run"], at["step"].astype(int), strict=True))


def _steps(steps: dict[str, int]) -> str:
    """``20``, or ``207/208`` when the runs' best checkpoints sit at different steps; "" when there is none."""
    return "/".join(str(s) for s in sorted(set(steps.values())))


def _gains(
    pairs: list[tuple[str, list[Any], list[Any]]], read: Callable[[Any], pd.Series | None]
) -> tuple[ReplicateGains, list[float], list[float]]:
    """Each replicate's gain from (replicate, treatment runs, control runs) with ``read`` giving a run's scores
    (a run is what ``read`` takes: its name, or (name, step)); also each replicate's treatment and control pass@1."""
    reps, gains, ses, problems, acc, ctrl_acc = [], [], [], [], [], []
    for replicate, treated, controls in pairs:
        t = _mean_scores([read(r) for r in treated])
        c = _mean_scores([read(r) for r in controls])
        if t is None or c is None:
            continue
        gain, se, n = replicate_gain(t, c)
        if n == 0:
            continue
        reps.append(replicate)
        gains.append(gain)
        ses.append(se)
        problems.append(n)
        acc.append(float(t.mean()))
        ctrl_acc.append(float(c.mean()))
    return ReplicateGains(tuple(reps), tuple(gains), tuple(ses), tuple(problems)), acc, ctrl_acc


def _row(
    frame: pd.DataFrame,
    group: pd.DataFrame,
    controls: pd.DataFrame,
    scores: _Scores,
    summary: pd.DataFrame,
    replicate_ids: dict[str, str],
    benchmark: str | None,
) -> dict[str, Any]:
    """One configuration's row: its replicates paired with their controls."""
    first = group.iloc[0]
    lr = float(first["lr"]) if pd.notna(first["lr"]) else math.nan
    ctrl = controls[(controls["arm"] == first["arm"]) & np.isclose(controls["lr"].astype(float), lr)]
    pairs = []
    for replicate, g in group.groupby("replicate", sort=True):
        matched = ctrl.loc[ctrl["replicate"] == replicate, "run"].tolist()
        if matched:
            pairs.append((str(replicate), g["run"].tolist(), matched))
    final, acc, ctrl_acc = _gains(pairs, scores.final)
    treated = [r for _, t, _ in pairs for r in t]
    control_runs = [r for _, _, c in pairs for r in c]
    best_t = _best_checkpoint(frame, treated, benchmark)
    best_c = _best_checkpoint(frame, control_runs, benchmark)
    best, _, _ = _gains(
        [(rep, [(r, best_t.get(r)) for r in t], [(r, best_c.get(r)) for r in c]) for rep, t, c in pairs],
        lambda run_step: scores.at(*run_step),
    )
    low, high = final.interval()
    mine = summary[summary["run"].isin(group["run"])]
    return {
        "series": series_label(first),
        "config": first["config"],
        "treatment": treatment(first["objective"], first["variant"] or ""),
        "objective": first["objective"],
        **{k: first[k] for k in HYPERPARAMETERS},
        "lr": lr,
        "arm": first["arm"] or "",
        "replicates": final.n,
        "varies": ", ".join(varying_keys(final.replicates)),
        "final_acc": float(np.mean(acc)) if acc else math.nan,
        "control_acc": float(np.mean(ctrl_acc)) if ctrl_acc else math.nan,
        "final_gain": final.mean,
        "final_se": final.se,
        "final_low": low,
        "final_high": high,
        "per_replicate": " ".join(
            f"{replicate_ids[r]} {100 * g:+.1f}" for r, g in zip(final.replicates, final.gains, strict=True)
        ),
        "best_step": _steps(best_t),
        "control_best_step": _steps(best_c),
        "best_gain": best.mean,
        "best_se": best.se,
        "problems": min(final.problems) if final.n else 0,
        "collapsed": f"{int(mine['collapse_step'].notna().sum())}/{len(mine)}",
        "runs": len(group),
        "logps_chosen_end": float(mine["logps_chosen_end"].mean()) if len(mine) else math.nan,
        "logps_rejected_end": float(mine["logps_rejected_end"].mean()) if len(mine) else math.nan,
    }


def unpaired(used: pd.DataFrame) -> list[str]:
    """The finished non-control runs with no finished control of their replicate, arm and lr."""
    controls = used[is_control(used)]
    keys = {
        (r, a, round(float(lr), 15))
        for r, a, lr in zip(controls["replicate"], controls["arm"], controls["lr"], strict=True)
    }
    treated = used[~is_control(used)]
    return [
        run
        for run, r, a, lr in zip(
            treated["run"], treated["replicate"], treated["arm"], treated["lr"], strict=True
        )
        if pd.isna(lr) or (r, a, round(float(lr), 15)) not in keys
    ]


def replicate_ids(info: pd.DataFrame) -> dict[str, str]:
    """``R1``, ``R2``, ... for the sweep's replicates (sorted), the names the tables list gains under."""
    reps = sorted(set(info["replicate"].fillna("").astype(str)))
    return {rep: f"R{i}" for i, rep in enumerate(reps, start=1)}


def _arm_key(arm: str) -> tuple[tuple[str, float, str], ...]:
    """Sort arms by their values as numbers where they are numbers (``error_rate=0.35`` after ``=0.2``)."""
    out = []
    for part in arm.split(", ") if arm else []:
        key, _, value = part.partition("=")
        try:
            out.append((key, float(value), value))
        except ValueError:
            out.append((key, math.inf, value))
    return tuple(out)


def gains_table(frame: pd.DataFrame, benchmark: str | None = None) -> pd.DataFrame:
    """One row per finished non-control configuration and arm: its paired final and best gains (fractions).

    ``benchmark``: the one to score (default: every benchmark, averaged as the paper's avg column). A row with no
    finished control of any of its replicates has 0 replicates and NaN gains. ``attrs``: ``excluded`` (the runs
    left out, :func:`exclusions`) and ``replicates`` (id -> replicate).
    """
    info = runs(frame)
    ids = replicate_ids(info[_stage2(info)])
    out = pd.DataFrame(columns=list(GAIN_COLUMNS))
    if not info.empty:
        used = info[_stage2(info) & _finished(info)]
        scores = _Scores(frame, dict(zip(info["run"], info["location"].astype(str), strict=True)), benchmark)
        summary = stability_summary(frame[frame["run"].isin(used["run"])], benchmark)
        controls = used[is_control(used)]
        rows = [
            _row(frame, g, controls, scores, summary, ids, benchmark)
            for _, g in used[~is_control(used)].groupby(["config", "arm"], sort=True)
        ]
        if rows:
            out = pd.DataFrame(rows, columns=list(GAIN_COLUMNS))
            order = out.assign(
                _rank=out["objective"].map(OBJECTIVE_ORDER).fillna(len(OBJECTIVE_ORDER)),
                _treatment=out["treatment"].map(TREATMENTS.index),
                _arm=out["arm"].map(_arm_key),
            )
            keys = ["_treatment", "_rank", *HYPERPARAMETERS, "_arm", "lr"]
            out = out.loc[order.sort_values(keys, kind="mergesort", na_position="first").index]
            out = out.reset_index(drop=True)
    excluded = exclusions(frame) if not info.empty else {"unfinished": [], "stage1": []}
    excluded["unpaired"] = unpaired(info[_stage2(info) & _finished(info)]) if not info.empty else []
    out.attrs["excluded"] = excluded
    out.attrs["replicates"] = {v: k for k, v in ids.items()}
    return out


def best_lr_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each configuration (objective, hyperparameters, treatment, arm) at its own best lr by mean final gain, as the
    paper tunes them; ``lrs`` lists the lrs it ran. Rows with no paired replicate do not compete."""
    rows = []
    for _, g in table.groupby(["series", "treatment", "arm"], sort=False):
        ranked = g[g["final_gain"].notna()]
        if ranked.empty:
            continue
        best = ranked.loc[ranked["final_gain"].idxmax()]
        lrs = sorted(g["lr"].dropna().unique())
        rows.append({**best.to_dict(), "lrs": ", ".join(format_value(float(lr)) for lr in lrs)})
    return pd.DataFrame(rows, columns=[*table.columns, "lrs"])


def dose_response_table(table: pd.DataFrame) -> pd.DataFrame:
    """The configurations (at one lr) that ran in more than one arm, their arms in order of their values."""
    arms = table.groupby(["series", "treatment", "lr"], sort=False)["arm"].transform("nunique")
    dose = table[arms > 1]
    order = dose.assign(_arm=dose["arm"].map(_arm_key))
    keys = ["series", "treatment", "lr", "_arm"]
    return dose.loc[order.sort_values(keys, kind="mergesort").index].reset_index(drop=True)


def gains_markdown(table: pd.DataFrame) -> str:
    """The gains tables as markdown (redi.analysis.gains_text)."""
    from redi.analysis.gains_text import gains_markdown as text

    return text(table, best_lr_table(table), dose_response_table(table))


def write_sweep_gains(sweep_dir: str | Path) -> Path | None:
    """Print the sweep's gains table and write it beside members.tsv (gains.md, gains.csv); None when no member
    has a control to pair with. Never raises: a sweep that trained must not fail on its report."""
    from redi.analysis.load import load_sweep

    sweep_dir = Path(sweep_dir)
    try:
        table = gains_table(load_sweep(sweep_dir))
        if not (table["replicates"] > 0).any():
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
