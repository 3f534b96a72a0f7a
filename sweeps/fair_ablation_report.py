"""The fair ablation's table: every configuration's final pass@1 as a paired gain over the alpha = 0 control.

    python sweeps/fair_ablation_report.py runs/sweeps/fair_ablation [--out sweeps/fair_ablation]

Reads each run directory of the sweep (.hydra/config.yaml, status.json, metrics.jsonl and the final
eval/step_N.jsonl). A run is paired with the REDI alpha = 0 run (the control: more SFT on the positives) of the same
lr and seed; gain and standard error over problems and seeds are redi.eval.paired.paired_gain's.
Also: the student's shortcut rate in its final samples (shortcut task), the chosen / rejected per-token log-prob at
the end of training, and whether the harness's collapse rule fired. Writes table.md and table.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

from redi.eval.paired import eval_steps, paired_gain, problem_scores

FINISHED = ("completed", "collapsed", "diverged")


def final_texts(run: Path, step: int) -> list[dict]:
    """The sampled answers (prompt_id, gold, text) of the run's evaluation at ``step``."""
    lines = (run / "eval" / f"step_{step}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def mistake_shares(samples: list[dict], synthetic: dict) -> dict[str, float]:
    """Share of the samples whose mistake is a failed shortcut / a false digit fact (the teacher's reader)."""
    from redi.config import SyntheticTeacherConfig
    from redi.data.synthetic import classify_mistake, heldout_problems

    teacher = SyntheticTeacherConfig(**synthetic)
    expressions = {p["id"]: p["expression"] for p in heldout_problems(teacher)}
    kinds = [
        classify_mistake(expressions[s["prompt_id"]], s["gold"], s["text"], task=teacher.task)
        for s in samples
    ]
    return {k: kinds.count(k) / len(kinds) for k in ("shortcut_slip", "column_slip")}


def describe(run: Path) -> dict | None:
    """The configuration, state and final numbers of one run directory (None if it is not a finished run)."""
    cfg_file, status_file = run / ".hydra" / "config.yaml", run / "status.json"
    if not cfg_file.exists() or not status_file.exists():
        return None
    cfg = yaml.safe_load(cfg_file.read_text())
    status = json.loads(status_file.read_text())
    if status.get("state") not in FINISHED:  # running, interrupted or failed: no final checkpoint to score
        return None
    steps = eval_steps(run)
    if not steps:
        return None
    samples = final_texts(run, steps[-1])
    texts = [x["text"] for x in samples]
    synthetic = {k: v for k, v in cfg["data"]["synthetic"].items()}
    obj = cfg["objective"]
    name = obj["name"]
    hyper = {k: cfg[k] for k in ("alpha", "beta", "gamma") if k in obj and cfg.get(k) is not None}
    if cfg["data"]["builder"].get("swap_pairs"):
        name += "_inverted"
    label = name + "".join(f" {k} {v:g}" for k, v in hyper.items())
    last = {}
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            row = json.loads(line)
            for key in ("train/logps_chosen", "train/logps_rejected", "train/grad_norm"):
                if key in row:
                    last[key] = row[key]
    return {
        "label": label,
        "control": name == "redi" and hyper.get("alpha") == 0.0,
        "lr": float(cfg["lr"]),
        "seed": int(cfg["seed"]),
        "state": status.get("state"),
        "collapse_step": status.get("collapse_step"),
        "scores": problem_scores(run, steps[-1]),
        "shortcut_rate": shortcut_rate(texts),
        "logps_chosen": last.get("train/logps_chosen"),
        "logps_rejected": last.get("train/logps_rejected"),
        "step": status.get("step"),
        **mistake_shares(samples, synthetic),
    }


def shortcut_rate(texts: list[str]) -> float:
    """Share of the steps with column work that the samples wrote as a shortcut."""
    from redi.data.synthetic import shortcut_counts

    s = e = 0
    for t in texts:
        a, b = shortcut_counts(t)
        s, e = s + a, e + b
    return s / e if e else float("nan")


def table(runs: list[dict]) -> list[dict]:
    """One row per (configuration, lr): paired gain over the control +- SE, seeds, final accuracy, diagnostics."""
    controls = {(r["lr"], r["seed"]): r for r in runs if r["control"]}
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["label"], r["lr"])].append(r)
    out = []
    for (label, lr), members in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        pairs = [
            (r["scores"], controls[(lr, r["seed"])]["scores"])
            for r in members
            if (lr, r["seed"]) in controls and controls[(lr, r["seed"])] is not r
        ]
        result = paired_gain(pairs)
        gain, se, gains = result.gain, result.se, result.per_seed if pairs else ()

        def mean(key: str, members: list[dict] = members) -> float | None:
            values = [m[key] for m in members if m[key] is not None]
            return statistics.fmean(values) if values else None

        out.append(
            {
                "config": label,
                "lr": lr,
                "seeds": len(members),
                "pass@1": statistics.fmean(float(m["scores"].mean()) for m in members),
                "gain": gain,
                "gain_se": se,
                "per_seed_gains": " ".join(f"{100 * g:+.1f}" for g in gains),
                "shortcut_rate": mean("shortcut_rate"),
                "shortcut_slips": mean("shortcut_slip"),
                "column_slips": mean("column_slip"),
                "logps_chosen": mean("logps_chosen") if any(m["logps_chosen"] for m in members) else None,
                "logps_rejected": mean("logps_rejected")
                if any(m["logps_rejected"] for m in members)
                else None,
                "collapsed": sum(
                    m["collapse_step"] is not None or m["state"] == "collapsed" for m in members
                ),
            }
        )
    return out


def markdown(rows: list[dict]) -> str:
    head = "| config | lr | seeds | final pass@1 | gain over control (points) +- SE | per seed | shortcut rate | samples failing by shortcut / column slip | logp chosen / rejected (end) | collapse rule fired |"  # noqa: E501
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        gain = (
            "control"
            if r["per_seed_gains"] == "" and r["config"] == "redi alpha 0"
            else (f"{100 * r['gain']:+.2f} +- {100 * r['gain_se']:.2f}" if r["gain"] == r["gain"] else "-")
        )
        lp = (
            f"{r['logps_chosen']:.3f} / {r['logps_rejected']:.3f}"
            if r["logps_chosen"] is not None and r["logps_rejected"] is not None
            else "-"
        )
        lines.append(
            f"| {r['config']} | {r['lr']:g} | {r['seeds']} | {r['pass@1']:.3f} | {gain} | {r['per_seed_gains']} | "
            f"{r['shortcut_rate']:.3f} | {r['shortcut_slips']:.3f} / {r['column_slips']:.3f} | {lp} | {r['collapsed']}/{r['seeds']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="write table.md and table.csv here")
    args = parser.parse_args()
    runs = [d for s in args.sweep_dirs for p in sorted(s.iterdir()) if p.is_dir() and (d := describe(p))]
    rows = table(runs)
    text = markdown(rows)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(text)
        with (args.out / "table.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
