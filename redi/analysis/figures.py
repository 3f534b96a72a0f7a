"""The paper's collapse figures from the tidy sweep table; shared by ``python -m redi.analysis`` and the notebooks.

Every figure has one row of panels per facet value: accuracy (pass@1 with its standard error), chosen and
rejected log-prob per token, update norm, and mean generation length, against the training step. The stage-1
level is a dashed grey line; a run's collapse step is a dotted vertical line in its colour.
Figures are ``matplotlib.figure.Figure`` objects not registered with pyplot (no global state, no GUI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from redi.analysis.columns import format_value
from redi.analysis.load import benchmarks, curve_column, runs
from redi.analysis.tables import accuracy, stability_summary

PANELS = (
    ("accuracy", "pass@1"),
    ("train/logps_chosen_per_token", "chosen log-prob / token"),
    ("train/logps_rejected_per_token", "rejected log-prob / token"),
    ("train/update_norm", "update norm"),
    ("length", "mean generation length"),
)


@dataclass(frozen=True)
class Family:
    """One figure of the paper: which runs it shows, what colours them, what splits them into rows."""

    key: str  # file stem of the PNG
    title: str
    select: Callable[[pd.DataFrame], pd.Series]  # runs table -> boolean mask
    hue: tuple[str, ...]
    facet: str | None = None


def _is(objective: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda r: r["objective"] == objective


def _symmetric_vs_asymmetric(r: pd.DataFrame) -> pd.Series:
    """REDI runs at alpha = 1 (symmetric) and at the largest alpha < 1 in the sweep (asymmetric)."""
    redi = r["objective"] == "redi"
    below = r.loc[redi & (r["alpha"] < 1.0), "alpha"]
    keep = {1.0} | ({float(below.max())} if len(below) else set())
    return redi & r["alpha"].isin(keep) & (r["alpha"] == 1.0).any()


FAMILIES: tuple[Family, ...] = (
    Family("fig3_dpo", "DPO at several (beta, lr) (cf. paper Fig. 3)", _is("dpo"), ("beta", "lr")),
    Family(
        "fig4_dpo_lr",
        "DPO learning-rate sweep per beta (cf. paper Fig. 4)",
        _is("dpo"),
        ("lr",),
        facet="beta",
    ),
    Family("fig5_simpo", "SimPO (cf. paper Fig. 5)", _is("simpo"), ("beta", "gamma", "lr")),
    Family(
        "fig6_symmetric",
        "symmetric (alpha = 1) vs asymmetric REDI (cf. paper Fig. 6)",
        _symmetric_vs_asymmetric,
        ("alpha", "lr"),
    ),
    Family(
        "fig7_alpha",
        "REDI alpha sweep per learning rate (cf. paper Fig. 7)",
        _is("redi"),
        ("alpha",),
        facet="lr",
    ),
)
FAMILY_BY_KEY = {f.key: f for f in FAMILIES}


def family_runs(frame: pd.DataFrame, family: Family) -> list[str]:
    """Names of the runs a family shows (empty when the sweep has none)."""
    table = runs(frame)
    return table.loc[family.select(table).fillna(False).astype(bool), "run"].tolist()


def _label(row: pd.Series, keys: Sequence[str]) -> str:
    """A line's legend: its hue keys, and its data variant apart (``alpha=0.8 [labels swapped]``)."""
    label = ", ".join(f"{k}={format_value(row[k])}" for k in keys if pd.notna(row[k])) or str(row["run"])
    variant = row.get("variant")
    return f"{label} [{variant}]" if isinstance(variant, str) and variant else label


def _series(
    g: pd.DataFrame, panel: str, benchmark: str | None
) -> tuple[pd.Series, pd.Series, pd.Series | None]:
    """(steps, values, sem or None) of one panel for one run."""
    if panel == "accuracy":
        y = accuracy(g, benchmark)
        sem_col = curve_column(benchmark, "pass@1_sem") if benchmark else None
        sem = g[sem_col] if sem_col and sem_col in g else None
    elif panel == "length":
        names = [benchmark] if benchmark else benchmarks(g)
        cols = [curve_column(b, "mean_length") for b in names if curve_column(b, "mean_length") in g.columns]
        y = g[cols].mean(axis=1, skipna=False) if cols else pd.Series(np.nan, index=g.index)
        sem = None
    else:
        y = g[panel] if panel in g else pd.Series(np.nan, index=g.index)
        sem = None
    mask = y.notna()
    return (
        g.loc[mask, "step"].astype(float),
        y[mask].astype(float),
        (sem[mask].astype(float) if sem is not None else None),
    )


def collapse_figure(
    frame: pd.DataFrame,
    run_names: Sequence[str],
    *,
    title: str,
    hue: Sequence[str],
    facet: str | None = None,
    benchmark: str | None = None,
    smooth: int | None = None,
) -> Figure:
    """Accuracy, chosen/rejected log-probs, update norm and length against step for ``run_names``.

    ``hue``: config columns that name a line (colour); ``facet``: a config column with one row of panels per value;
    ``benchmark``: the accuracy shown (default: the only benchmark, else the mean over benchmarks);
    ``smooth``: rolling-mean window for the per-step training curves (default: about 1/25 of the steps).
    """
    data = frame[frame["run"].isin(run_names)].dropna(subset=["step"])
    benches = benchmarks(frame)
    if benchmark is None and len(benches) == 1:
        benchmark = benches[0]
    # every run asked for, also one that failed before logging a step (it draws nothing)
    table = runs(frame).set_index("run")
    info = table.loc[[r for r in dict.fromkeys(run_names) if r in table.index]].reset_index()
    facets = sorted(info[facet].dropna().unique()) if facet else [None]
    if facet and info[facet].isna().any():
        facets.append(np.nan)
    if smooth is None:
        smooth = max(1, int(data["step"].max() or 1) // 25) if len(data) else 1
    summary = stability_summary(data, benchmark).set_index("run") if len(data) else pd.DataFrame()
    start = accuracy(frame[frame["step"] == 0], benchmark).mean()

    labels = list(dict.fromkeys(_label(r, hue) for _, r in info.iterrows()))
    palette = _palette(len(labels))
    colours = dict(zip(labels, palette, strict=True))

    fig = Figure(figsize=(3.2 * len(PANELS), 2.6 * len(facets) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(facets), len(PANELS), squeeze=False))
    for i, value in enumerate(facets):
        rows = (
            info
            if facet is None
            else info[info[facet].isna()]
            if pd.isna(value)
            else info[info[facet] == value]
        )
        for j, (panel, ylabel) in enumerate(PANELS):
            ax = axes[i, j]
            _draw_panel(ax, panel, rows, data, hue, colours, benchmark, smooth, summary)
            if panel == "accuracy" and pd.notna(start):
                ax.axhline(start, color="grey", ls="--", lw=0.8, label="stage 1")
            if panel == "train/update_norm":
                ax.set_yscale("log") if (
                    data.get("train/update_norm", pd.Series(dtype=float)) > 0
                ).any() else None
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if j == 0:
                head = f"{facet}={format_value(value)}" if facet else ""
                ax.set_title(head, loc="left", fontsize=9)
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=7, frameon=False)
    name = benchmark or "mean over benchmarks"
    fig.suptitle(
        f"{title}  [{name}; train curves: rolling mean over {smooth} steps; ':' = collapse]", fontsize=10
    )
    return fig


def _draw_panel(
    ax: Any,
    panel: str,
    rows: pd.DataFrame,
    data: pd.DataFrame,
    hue: Sequence[str],
    colours: dict[str, Any],
    benchmark: str | None,
    smooth: int,
    summary: pd.DataFrame,
) -> None:
    """One panel of :func:`collapse_figure`: a line per run of ``rows`` (evaluations with their SEM band, training
    curves as a rolling mean over ``smooth`` steps), and a dotted line at each run's collapse step."""
    seen: set[str] = set()
    for _, r in rows.iterrows():
        g = data[data["run"] == r["run"]].sort_values("step")
        label = _label(r, hue)
        x, y, sem = _series(g, panel, benchmark)
        if y.empty:
            continue
        colour = colours[label]
        if panel in ("accuracy", "length"):
            ax.plot(x, y, marker="o", ms=3, color=colour, label=None if label in seen else label)
            if sem is not None and sem.notna().any():
                ax.fill_between(x, y - sem, y + sem, color=colour, alpha=0.15, lw=0)
        else:
            ax.plot(
                x,
                y.rolling(smooth, min_periods=1).mean(),
                color=colour,
                lw=1.2,
                label=None if label in seen else label,
            )
        seen.add(label)
        cstep = summary["collapse_step"].get(r["run"]) if len(summary) else pd.NA
        if pd.notna(cstep):
            ax.axvline(float(cstep), color=colour, ls=":", lw=1)


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis" if n > 10 else "tab10"]
    return [cmap(i / max(n - 1, 1)) if n > 10 else cmap(i) for i in range(n)]


def family_figure(frame: pd.DataFrame, family: Family | str, benchmark: str | None = None) -> Figure | None:
    """The figure of one family (see FAMILIES), or None when the sweep has no run of it."""
    family = FAMILY_BY_KEY[family] if isinstance(family, str) else family
    names = family_runs(frame, family)
    if not names:
        return None
    return collapse_figure(
        frame, names, title=family.title, hue=family.hue, facet=family.facet, benchmark=benchmark
    )


CURVE_PANELS = (
    ("accuracy", "pass@1"),
    ("train/logps_chosen_per_token", "chosen log-prob / token"),
    ("train/logps_rejected_per_token", "rejected log-prob / token"),
    ("train/grad_norm", "gradient norm"),
    ("train/update_norm", "update norm"),
)


def _curve_runs(frame: pd.DataFrame) -> list[str]:
    """The runs beside the stability panel: Fig. 6's (symmetric vs asymmetric) plus the alpha = 0 control."""
    from redi.analysis.gains import is_control

    table = runs(frame)
    chosen = _symmetric_vs_asymmetric(table).fillna(False).astype(bool) | is_control(table)
    if not chosen.any():
        chosen = table["objective"].notna()
    return table.loc[chosen, "run"].tolist()


def stability_figure(frame: pd.DataFrame, benchmark: str | None = None) -> Figure:
    """The paper's argument in one figure: stability versus performance, and the Fig. 6 curves beside it.

    Left: x = lr (log), y = paired gain over the alpha = 0 control at the same lr and seed (points), the best
    checkpoint solid and the final one dashed, one line per alpha / beta, error bars = the paired SE over problems
    and seeds (redi.analysis.gains); a gap between a line's solid and dashed halves is a collapse. Right: pass@1,
    chosen and rejected per-token log-probs, gradient norm and update norm against step for the symmetric and
    asymmetric REDI runs and the control (seeds averaged per configuration).
    """
    from redi.analysis.gains import gains_table

    table = gains_table(frame, benchmark)
    fig = Figure(figsize=(3.1 * (len(CURVE_PANELS) + 1.6), 3.6), layout="constrained")
    grid = fig.add_gridspec(1, len(CURVE_PANELS) + 2)
    ax = fig.add_subplot(grid[0, :2])
    series = list(dict.fromkeys(table["series"])) if len(table) else []
    colours = dict(zip(series, _palette(max(len(series), 1)), strict=False))
    plotted = False
    for name in series:
        t = table[table["series"] == name].sort_values("lr")
        for col, se, style, tag in (
            ("best_gain", "best_se", "-", "best"),
            ("final_gain", "final_se", "--", "final"),
        ):
            ok = t[col].notna()
            if not ok.any():
                continue
            ax.errorbar(
                t.loc[ok, "lr"],
                100 * t.loc[ok, col],
                yerr=100 * t.loc[ok, se].fillna(0.0),
                color=colours[name],
                ls=style,
                marker="o" if tag == "best" else "x",
                ms=4,
                capsize=2,
                lw=1.2,
                label=f"{name} ({tag})",
            )
            plotted = True
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    if plotted:
        ax.set_xscale("log")
        ax.legend(fontsize=6, frameon=False, ncol=1 if len(series) < 5 else 2)
    else:
        ax.text(
            0.5,
            0.5,
            "no alpha = 0 control with per-problem\nevaluations at these lrs",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
    ax.set_xlabel("lr")
    ax.set_ylabel("gain over the alpha = 0 control (points)")
    ax.set_title("stability vs performance: solid best, dashed final", fontsize=9)
    ax.grid(alpha=0.3)
    _curve_panels(fig, grid, frame, benchmark)
    fig.suptitle(
        f"{benchmark or 'mean over benchmarks'}; error bars: paired SE over problems and seeds", fontsize=9
    )
    return fig


def _curve_panels(fig: Figure, grid: Any, frame: pd.DataFrame, benchmark: str | None) -> None:
    """The Fig. 6 panels: seed-averaged curves per configuration against step."""
    names = _curve_runs(frame)
    data = frame[frame["run"].isin(names)].dropna(subset=["step"])
    benches = benchmarks(frame)
    bench = benchmark or (benches[0] if len(benches) == 1 else None)
    configs = list(dict.fromkeys(runs(data)["config"])) if len(data) else []
    colours = dict(zip(configs, _palette(max(len(configs), 1)), strict=False))
    smooth = max(1, int(data["step"].max() or 1) // 25) if len(data) else 1
    for j, (panel, ylabel) in enumerate(CURVE_PANELS):
        ax = fig.add_subplot(grid[0, j + 2])
        for config in configs:
            g = data[data["config"] == config]
            per_run = []
            for _, r in g.groupby("run"):
                x, y, _ = _series(r.sort_values("step"), panel, bench)
                per_run.append(pd.Series(y.to_numpy(), index=x.to_numpy()))
            if not per_run:
                continue
            mean = pd.concat(per_run, axis=1).mean(axis=1).sort_index().dropna()
            if mean.empty:
                continue
            if panel == "accuracy":
                ax.plot(mean.index, mean.to_numpy(), marker="o", ms=3, color=colours[config], label=config)
            else:
                ax.plot(
                    mean.index,
                    mean.rolling(smooth, min_periods=1).mean().to_numpy(),
                    lw=1.1,
                    color=colours[config],
                    label=config,
                )
        if panel in ("train/grad_norm", "train/update_norm") and panel in data and (data[panel] > 0).any():
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        if j == 0 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, frameon=False)
