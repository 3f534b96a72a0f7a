"""A sweep's runs as records (one per run, the same fields whatever the source):
- a sweep directory (``runs/sweeps/<name>/``, one run directory per member: ``.hydra/config.yaml``,
  ``status.json``, ``metrics.jsonl``), read offline;
- a W&B group (``wandb:<entity>/<project>/<group>``), read through ``wandb.Api`` (offline W&B runs cannot be
  read back by Python, so offline analysis always reads the run directories);
- a committed sweep (``sweeps/<name>/`` with ``raw/``): the same records from its raw results (redi.analysis.raw).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redi.analysis import raw
from redi.analysis.columns import RUN_KEYS, lookup
from redi.analysis.pairing import arm_settings, replicate_of
from redi.infra.status import STATES, RunState

REPO = Path(__file__).resolve().parents[2]

#: A committed sweep's runs are located as ``raw/<run>`` (relative to the sweep; redi.analysis.raw).
RAW_PREFIX = "raw/"

# W&B run states -> the run directory's states, for runs whose summary carries no final state yet
_WANDB_STATES = {
    "running": RunState.RUNNING,
    "finished": RunState.COMPLETED,
    "crashed": RunState.FAILED,
    "failed": RunState.FAILED,
    "killed": RunState.INTERRUPTED,
    "preempted": RunState.INTERRUPTED,
    "preempting": RunState.RUNNING,
}


@dataclass
class RunRecord:
    """Everything the table needs about one run, whatever the source."""

    run: str
    config: Mapping[str, Any]
    status: Mapping[str, Any]
    history: list[dict[str, Any]]
    location: str
    run_id: str | None = None
    collapse: Mapping[str, Any] = field(default_factory=dict)  # trainer.collapse of the run, if known


def resolve_sweep(source: str | Path) -> str | Path:
    """A W&B spec as given, else the sweep directory: the path itself, ``<repo>/<path>``, or ``<repo>/runs/sweeps/<name>``."""
    text = str(source)
    if text.startswith("wandb:"):
        return text
    for candidate in (Path(text).expanduser(), REPO / text, REPO / "runs" / "sweeps" / text):
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError(
        f"sweep {text!r}: no such directory (tried it as a path, under {REPO} and under {REPO / 'runs' / 'sweeps'}); "
        "for W&B write wandb:<entity>/<project>/<group>"
    )


def _config_values(node: Any) -> dict[str, Any]:
    """RUN_KEYS of a composed config (a DictConfig or a plain dict), interpolations resolved where they can be
    (``${stage1.lr}``), else None."""
    from omegaconf import OmegaConf

    raw = node if OmegaConf.is_config(node) else OmegaConf.create(node or {})
    out: dict[str, Any] = {}
    for key in RUN_KEYS:
        value = OmegaConf.select(raw, key, default=None, throw_on_resolution_failure=False)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=False)
        out[key] = value
    out["replicate"] = replicate_of(raw)
    out["arm"] = arm_settings(raw)
    return out


def _record(
    run: str, config: Mapping[str, Any], status: Mapping[str, Any], history: list, location: str
) -> RunRecord:
    """A run's record from its composed config, status.json and metrics rows (a run directory or raw/ alike)."""
    values = _config_values(config)
    if not values.get("objective.name") and status.get("objective"):
        values["objective.name"] = status["objective"]
    return RunRecord(
        run=run,
        config=values,
        status={
            "state": status.get("state", "pending"),
            "collapse_step": status.get("collapse_step"),
            "step": status.get("step"),
        },
        history=history,
        location=location,
        run_id=status.get("wandb_run_id"),
        collapse=values.get("trainer.collapse") or {},
    )


def records_from_dir(sweep_dir: str | Path) -> list[RunRecord]:
    """One record per run directory under ``sweep_dir`` (the directory itself if it is a single run)."""
    sweep_dir = Path(sweep_dir)
    run_dirs = (
        [sweep_dir]
        if raw.is_run_dir(sweep_dir)
        else sorted(p for p in sweep_dir.iterdir() if p.is_dir() and raw.is_run_dir(p))
    )
    records = []
    for run_dir in run_dirs:
        entry = raw.run_entry(run_dir)
        status = entry["status"] or {"state": "pending"}
        records.append(_record(run_dir.name, entry["config"], status, entry["metrics"], str(run_dir)))
    return records


def records_from_raw(directory: str | Path) -> list[RunRecord]:
    """One record per run of a committed sweep's raw/runs.jsonl.gz; locations ``raw/<run>`` (relative to it)."""
    return [
        _record(
            e["run"], e["config"], e["status"] or {"state": "pending"}, e["metrics"], RAW_PREFIX + e["run"]
        )
        for e in raw.read_runs(directory)
    ]


def parse_wandb_spec(spec: str) -> tuple[str, str, str]:
    """``wandb:<entity>/<project>/<group>`` -> (entity, project, group)."""
    body = spec.removeprefix("wandb:").strip("/")
    parts = body.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{spec!r}: expected wandb:<entity>/<project>/<group>")
    return parts[0], parts[1], parts[2]


def _history(run: Any) -> list[dict[str, Any]]:
    """Every logged row of a W&B run (scan_history is unsampled; history() is the fallback)."""
    if callable(getattr(run, "scan_history", None)):
        rows = list(run.scan_history())
    else:
        frame = run.history(samples=1_000_000, pandas=True)
        rows = frame.to_dict("records") if hasattr(frame, "to_dict") else list(frame)
    out = []
    for row in rows:
        clean = {k: v for k, v in dict(row).items() if not str(k).startswith("_")}
        if clean.get("step") is not None and not (
            isinstance(clean["step"], float) and math.isnan(clean["step"])
        ):
            out.append(clean)
    return out


def records_from_wandb(entity: str, project: str, group: str, api: Any = None) -> list[RunRecord]:
    """One record per W&B run of ``group`` (the sweep's name) in ``entity/project``."""
    if api is None:
        import wandb

        api = wandb.Api(timeout=60)
    runs = api.runs(f"{entity}/{project}", filters={"group": group})
    records = []
    for run in runs:
        config = dict(run.config)
        summary = dict(getattr(run, "summary", {}) or {})
        state = summary.get("state")
        if state not in STATES:
            state = _WANDB_STATES.get(getattr(run, "state", ""), RunState.PENDING).value
        records.append(
            RunRecord(
                run=run.name,
                config={
                    "objective.name": lookup(config, "objective.name") or getattr(run, "job_type", None),
                    **{
                        k: lookup(config, k)
                        for k in RUN_KEYS
                        if k not in ("objective.name", "trainer.collapse")
                    },
                    "trainer.collapse": lookup(config, "trainer.collapse"),
                    "replicate": replicate_of(config),
                    "arm": arm_settings(config),
                },
                status={
                    "state": state,
                    "collapse_step": summary.get("collapse_step"),
                    "step": summary.get("final_step"),
                },
                history=_history(run),
                location=str(getattr(run, "url", None) or f"{entity}/{project}/{run.id}"),
                run_id=run.id,
                collapse=lookup(config, "trainer.collapse") or {},
            )
        )
    return records
