"""How each configuration's final samples fail: the share of samples per failure kind, and the shortcut rate.

Where the benchmark has a classifier (the synthetic task: redi.data.synthetic.classify), every wrong sample of a
run's last evaluation has a kind (shortcut_slip, column_slip, dropped_carry, ...); on the shortcut task every step
that has column work is either written with it or as a shortcut. Per run: the share of its samples of each kind
and the share of such steps written as shortcuts; per configuration, the mean over its replicates. Read from run
directories or a committed sweep's raw/ alike (redi.analysis.evaluations.sample_rows).
"""

from __future__ import annotations

import pandas as pd

from redi.analysis.columns import CONFIG_KEYS
from redi.analysis.evaluations import eval_steps, sample_rows
from redi.analysis.load import runs
from redi.analysis.raw import NONE
from redi.analysis.tables import OBJECTIVE_ORDER, to_markdown


def run_failures(samples: pd.DataFrame) -> dict[str, float]:
    """``kind -> share of samples`` and ``shortcut_rate`` of one run's samples (raw/samples.tsv rows)."""
    kinds = [k for cell in samples["kind"] for k in cell.split()]
    out: dict[str, float] = {}
    if not kinds:
        return out
    for kind in sorted(set(kinds) - {NONE}):
        out[kind] = kinds.count(kind) / len(kinds)
    taken = eligible = 0
    for cell in samples["shortcut"]:
        for part in cell.split():
            if part != NONE:
                a, b = part.split("/")
                taken, eligible = taken + int(a), eligible + int(b)
    if eligible:
        out["shortcut_rate"] = taken / eligible
    return out


def failures_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: replicates, then the mean over them of each failure kind's share and the
    shortcut rate at the final evaluation (columns in descending overall share); empty without a classifier."""
    info = runs(frame)
    per_run = []
    for _, r in info.iterrows():
        steps = eval_steps(frame, str(r["location"])) if pd.notna(r["location"]) else []
        if not steps:
            continue
        shares = run_failures(sample_rows(frame, str(r["location"]), steps[-1]))
        if shares:
            per_run.append({"config": r["config"], **{k: r[k] for k in CONFIG_KEYS}, **shares})
    if not per_run:
        return pd.DataFrame()
    table = pd.DataFrame(per_run)
    value_cols = [c for c in table.columns if c not in ("config", *CONFIG_KEYS)]
    table[value_cols] = table[value_cols].fillna(0.0)
    grouped = table.groupby("config", sort=False)
    out = grouped[value_cols].mean()
    out.insert(0, "replicates", grouped.size())
    keys = grouped[list(CONFIG_KEYS)].first()
    rate = [c for c in value_cols if c == "shortcut_rate"]
    kinds = sorted((c for c in value_cols if c != "shortcut_rate"), key=lambda c: (-out[c].mean(), c))
    out = out.join(keys).assign(_rank=keys["objective"].map(OBJECTIVE_ORDER).fillna(len(OBJECTIVE_ORDER)))
    out = out.sort_values(["_rank", *CONFIG_KEYS], na_position="first").reset_index()
    return out[["config", "replicates", *rate, *kinds]]


def failures_markdown(table: pd.DataFrame) -> str:
    """The table in percent of samples (the shortcut rate in percent of steps with column work)."""
    shown = table.copy()
    for col in shown.columns[2:]:
        shown[col] = [f"{100 * v:.1f}" for v in shown[col]]
    shown = shown.rename(columns={"shortcut_rate": "shortcut rate"})
    note = (
        "\nShare of the final evaluation's samples (%) whose wrong answer shows each failure kind (the synthetic "
        "task's classifier, redi/data/synthetic/classify.py), mean over replicates; the shortcut rate is the share "
        "of steps with column work written without it.\n"
    )
    return to_markdown(shown) + note
