"""The gains tables as markdown (gains.md): every row, each configuration at its best lr, the dose-response, and
under them what a replicate is and which runs were left out."""

from __future__ import annotations

import pandas as pd

from redi.analysis.pairing import varying_keys
from redi.analysis.tables import to_markdown
from redi.infra.wandb_names import format_value

PAIRING_NOTE = (
    "Paired gain over the REDI alpha = 0 control (teacher's pairs as built: no self-generated data, labels not "
    "swapped) of the same replicate, arm and lr, on the problems both runs scored at their final evaluation, in "
    "pass@1 points: the mean of the replicates' gains ± its SE (sd / sqrt(n); one replicate: the SE over its "
    "problems), the 95% CI Student's t with n - 1 degrees of freedom on the replicates' gains (none for one "
    "replicate). RFT (SFT on the student's own correct samples), REDI on the student's own pairs and "
    "label-swapped runs are rows of their own, paired with the same control. collapsed: runs whose collapse rule "
    "fired / runs; log-probs: mean per-token chosen / rejected over the last 5 logged steps, averaged over the runs."
)


def _points(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:+.1f}"


def _gain(gain: float, se: float) -> str:
    return "-" if pd.isna(gain) else f"{100 * gain:+.1f} ± {100 * se:.1f}"


def _interval(row: pd.Series) -> str:
    if pd.isna(row["final_low"]):
        return "-"
    return f"{_points(row['final_low'])} to {_points(row['final_high'])} (t, {int(row['replicates']) - 1} df)"


def _acc(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.3f}"


def _logps(row: pd.Series) -> str:
    chosen, rejected = row["logps_chosen_end"], row["logps_rejected_end"]
    if pd.isna(chosen) and pd.isna(rejected):
        return "-"
    return " / ".join("-" if pd.isna(v) else f"{v:.3f}" for v in (chosen, rejected))


def _name(row: pd.Series, lr: bool = True) -> str:
    """The row's name: its configuration (with or without lr), and the treatment when it is not the teacher's
    pairs (RFT reads better than ``SFT [self-generated]``)."""
    name = row["config"] if lr else row["series"]
    if row["treatment"].startswith("RFT"):
        name = "RFT " + name.replace("[self-generated]", "").removeprefix("SFT")
    elif row["treatment"] == "student's own pairs":
        name = name.replace("[self-generated]", "[student's own pairs]")
    return " ".join(name.split())


def _main(table: pd.DataFrame, with_arm: bool) -> str:
    shown = pd.DataFrame({"config": [_name(r) for _, r in table.iterrows()]})
    if with_arm:
        shown["arm"] = table["arm"].fillna("").replace("", "-").to_numpy()
    shown["replicates"] = table["replicates"].astype(str).to_numpy()
    shown["pass@1 (control)"] = [
        f"{_acc(a)} ({_acc(c)})" for a, c in zip(table["final_acc"], table["control_acc"], strict=True)
    ]
    shown["final - control (points)"] = [
        _gain(g, s) for g, s in zip(table["final_gain"], table["final_se"], strict=True)
    ]
    shown["95% CI"] = [_interval(r) for _, r in table.iterrows()]
    shown["per replicate"] = [p or "-" for p in table["per_replicate"].fillna("")]
    shown["collapsed"] = table["collapsed"].to_numpy()
    shown["log-prob chosen / rejected (end)"] = [_logps(r) for _, r in table.iterrows()]
    shown["best - control (points)"] = [
        _gain(g, s) for g, s in zip(table["best_gain"], table["best_se"], strict=True)
    ]
    shown["step (control)"] = [
        f"{b} ({c or '-'})" if b else "-"
        for b, c in zip(table["best_step"].fillna(""), table["control_best_step"].fillna(""), strict=True)
    ]
    shown["problems"] = table["problems"].astype(str).to_numpy()
    return to_markdown(shown)


def _best_lr(best: pd.DataFrame, with_arm: bool) -> str:
    shown = pd.DataFrame({"config": [_name(r, lr=False) for _, r in best.iterrows()]})
    if with_arm:
        shown["arm"] = best["arm"].fillna("").replace("", "-").to_numpy()
    shown["best lr"] = [format_value(lr) for lr in best["lr"]]
    shown["lrs run"] = best["lrs"].to_numpy()
    shown["replicates"] = best["replicates"].astype(str).to_numpy()
    shown["final - control (points)"] = [
        _gain(g, s) for g, s in zip(best["final_gain"], best["final_se"], strict=True)
    ]
    shown["95% CI"] = [_interval(r) for _, r in best.iterrows()]
    shown["per replicate"] = [p or "-" for p in best["per_replicate"].fillna("")]
    shown["collapsed"] = best["collapsed"].to_numpy()
    return to_markdown(shown)


def _dose(dose: pd.DataFrame) -> str:
    shown = pd.DataFrame(
        {
            "config": [_name(r) for _, r in dose.iterrows()],
            "arm": dose["arm"].fillna("").replace("", "-").to_numpy(),
            "replicates": dose["replicates"].astype(str).to_numpy(),
            "pass@1 (control)": [
                f"{_acc(a)} ({_acc(c)})" for a, c in zip(dose["final_acc"], dose["control_acc"], strict=True)
            ],
            "final - control (points)": [
                _gain(g, s) for g, s in zip(dose["final_gain"], dose["final_se"], strict=True)
            ],
            "95% CI": [_interval(r) for _, r in dose.iterrows()],
            "per replicate": [p or "-" for p in dose["per_replicate"].fillna("")],
        }
    )
    return to_markdown(shown)


def _runs_line(label: str, names: list[str]) -> str:
    return f"{label}: {len(names)}" + (f" ({', '.join(names)})" if names else "") + "."


def _footer(table: pd.DataFrame) -> str:
    """What a replicate is (R1 = ...), and the runs left out: unfinished, stage-1, unpaired."""
    replicates = table.attrs.get("replicates", {})
    excluded = table.attrs.get("excluded", {})
    varies = varying_keys(list(replicates.values()))
    lines = [PAIRING_NOTE, ""]
    if replicates:
        lines.append(f"A replicate varies {', '.join(varies) if varies else 'nothing (one replicate)'}:")
        lines += [f"- {rid}: {rep or '(no seed recorded)'}" for rid, rep in replicates.items()]
        lines.append("")
    lines.append(_runs_line("Unfinished runs excluded (status not final)", excluded.get("unfinished", [])))
    lines.append(_runs_line("Stage-1 runs in the sweep directory, not compared", excluded.get("stage1", [])))
    lines.append(
        _runs_line(
            "Finished runs with no finished control of their replicate, arm and lr",
            excluded.get("unpaired", []),
        )
    )
    return "\n".join(lines) + "\n"


def gains_markdown(table: pd.DataFrame, best: pd.DataFrame, dose: pd.DataFrame) -> str:
    """gains.md: the table of every row, each configuration at its own best lr, the dose-response when an arm
    varies, then the pairing, the replicates and the runs left out."""
    with_arm = bool(table["arm"].fillna("").astype(bool).any())
    parts = ["## Paired gains over the alpha = 0 control", "", _main(table, with_arm)]
    if len(best):
        parts += [
            "## Each configuration at its own best lr (by mean final gain)",
            "",
            _best_lr(best, with_arm),
        ]
    if len(dose):
        keys = sorted({p.partition("=")[0] for a in dose["arm"] for p in a.split(", ") if p})
        parts += [f"## Dose-response: {', '.join(keys)}", "", _dose(dose)]
    return "\n".join(parts) + "\n" + _footer(table)
