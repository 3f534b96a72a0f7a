"""Saved W&B views of a sweep's collapse panels (wandb-workspaces), made from code.

    python -m redi.analysis.wandb_views --entity E --project redi --group cpu_ablation            # workspace + report
    python -m redi.analysis.wandb_views --entity E --project redi --group cpu_ablation --dry-run  # print the workspace JSON

- The workspace: one saved view of the project filtered to the group (= the sweep name), runs grouped by the
  swept keys (``--group-by``, default objective, alpha, beta, lr), the collapse panels against ``step``.
- The report: one panel grid per figure family of the paper (redi.analysis.figures.FAMILIES), each with its own
  run set (the family's runs) grouped by the family's colour keys, plus the stability table's numbers.
Both need the W&B API (online, logged in); without it the command says so and exits 2 (``--dry-run`` works
offline for the workspace; a report cannot be serialised without the API).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from redi.infra.wandb_names import run_tags as tracking_tags
from redi.objectives import root_hyperparameters

# the objective, every key an objective declares (alpha, beta, gamma, nll_weight, ...) and the lr: a configuration
DEFAULT_GROUP_BY = ("objective", *root_hyperparameters(), "lr")


def collapse_metrics(benchmark: str) -> list[tuple[str, str]]:
    """(metric, panel title) of the paper's collapse panels (pass@1 on all problems, and on the curve subset that
    runs with eval.curve_limit log at every evaluation)."""
    return [
        (f"eval/{benchmark}/pass@1", f"{benchmark} pass@1"),
        (f"eval/{benchmark}/curve/pass@1", f"{benchmark} pass@1, curve subset (eval.curve_limit)"),
        ("train/logps_chosen_per_token", "chosen log-prob / token"),
        ("train/logps_rejected_per_token", "rejected log-prob / token"),
        ("train/update_norm", "update norm"),
        (f"eval/{benchmark}/mean_length", "mean generation length"),
    ]


TRAINING_METRICS = [
    ("train/loss", "loss"),
    ("train/rewards_chosen", "chosen reward"),
    ("train/rewards_rejected", "rejected reward"),
    ("train/margin", "margin"),
    ("train/reward_accuracy", "reward accuracy"),
    ("train/grad_norm", "gradient norm"),
    ("train/lr", "learning rate"),
]


def run_tags(config: Mapping[str, Any]) -> list[str]:
    """The tags a run was started with (redi.infra.tracking.run_tags over every declared root key, lr, seed)."""
    return tracking_tags(config, (*root_hyperparameters(), "lr", "seed"))


def _group_key(key: str):
    import wandb_workspaces.workspaces as ws

    # the objective is the run's job_type; every other swept key is a root config key
    return ws.Metric("JobType") if key == "objective" else ws.Config(key)


def _line_plots(metrics: Sequence[tuple[str, str]], log_y: Sequence[str] = ("train/update_norm",)) -> list:
    import wandb_workspaces.reports.v2 as wr

    return [
        wr.LinePlot(title=title, x="step", y=[metric], log_y=metric in log_y or None)
        for metric, title in metrics
    ]


def build_workspace(
    entity: str,
    project: str,
    group: str,
    benchmark: str = "synthetic",
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    name: str | None = None,
):
    """A saved W&B workspace view: the group's runs, grouped by ``group_by``, with the collapse panels first."""
    import wandb_workspaces.workspaces as ws

    return ws.Workspace(
        entity=entity,
        project=project,
        name=name or f"{group}: collapse panels",
        settings=ws.WorkspaceSettings(x_axis="step", max_runs=100),
        sections=[
            ws.Section(
                name="collapse: accuracy, log-probs, update norm",
                panels=_line_plots(collapse_metrics(benchmark)),
                is_open=True,
            ),
            ws.Section(name="training", panels=_line_plots(TRAINING_METRICS), is_open=False),
        ],
        runset_settings=ws.RunsetSettings(
            filters=ws.And(ws.Metric("Group") == group),
            groupby=[_group_key(k) for k in group_by],
        ),
    )


def build_report(entity: str, project: str, group: str, frame: pd.DataFrame, benchmark: str = "synthetic"):
    """A W&B report with one panel grid per figure family present in ``frame`` (the group's tidy table)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    from redi.analysis import figures, tables

    blocks: list[Any] = [
        wr.H1(f"Collapse panels: {group}"),
        wr.P(
            "Accuracy, chosen and rejected log-prob per token, update norm and generation length against step, "
            "per figure of the REDI paper (arXiv 2505.24850). Made by redi.analysis.wandb_views."
        ),
    ]
    for family in figures.FAMILIES:
        names = figures.family_runs(frame, family)
        ids = frame.loc[frame["run"].isin(names), "run_id"].dropna().unique().tolist()
        if not ids:
            continue
        runset = wr.Runset(
            entity=entity,
            project=project,
            name=family.key,
            filters=ws.And(ws.Metric("Group") == group, ws.Metric("ID").isin(ids)),
            groupby=[k for k in (family.facet, *family.hue) if k],
        )
        blocks += [
            wr.H2(family.title),
            wr.PanelGrid(runsets=[runset], panels=_line_plots(collapse_metrics(benchmark))),
        ]
    summary = tables.stability_summary(frame, benchmark)
    if len(summary):
        blocks += [wr.H2("Stability versus performance"), wr.MarkdownBlock(tables.summary_markdown(summary))]
    return wr.Report(project=project, entity=entity, title=f"REDI collapse panels: {group}", blocks=blocks)


def wandb_reachable() -> tuple[bool, str]:
    """(True, "") when the W&B API answers with a logged-in user, else (False, why)."""
    try:
        import wandb

        api = wandb.Api(timeout=15)
        viewer = api.viewer
        return True, str(getattr(viewer, "username", ""))
    except Exception as e:  # no key, no network, a proxy: all mean "not reachable"
        return False, f"{type(e).__name__}: {e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m redi.analysis.wandb_views", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--entity", required=True)
    parser.add_argument("--project", default="redi")
    parser.add_argument("--group", required=True, help="the W&B group: the sweep's name")
    parser.add_argument("--benchmark", default="synthetic")
    parser.add_argument("--kind", choices=("workspace", "report", "both"), default="both")
    parser.add_argument(
        "--group-by", nargs="+", default=list(DEFAULT_GROUP_BY), help="workspace grouping keys"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the workspace as JSON; save nothing")
    args = parser.parse_args(argv)

    workspace = build_workspace(args.entity, args.project, args.group, args.benchmark, args.group_by)
    if args.dry_run:
        print(json.dumps(json.loads(workspace._to_model().model_dump_json(by_alias=True)), indent=1))
        return 0
    ok, why = wandb_reachable()
    if not ok:
        print(
            f"redi.analysis.wandb_views: the W&B API is not reachable ({why}); nothing saved. "
            "Log in (wandb login) with network access, or use --dry-run.",
            file=sys.stderr,
        )
        return 2
    if args.kind in ("workspace", "both"):
        saved = workspace.save()
        print(f"workspace: {getattr(saved, 'url', saved)}")
    if args.kind in ("report", "both"):
        from redi.analysis.load import load_sweep

        frame = load_sweep(f"wandb:{args.entity}/{args.project}/{args.group}")
        report = build_report(args.entity, args.project, args.group, frame, args.benchmark).save()
        print(f"report: {getattr(report, 'url', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
