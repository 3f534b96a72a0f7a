"""Load a sweep into one tidy table: a row per (run, step), config columns, one column per logged metric.

Two sources give the same columns:
- a sweep directory (``runs/sweeps/<name>/``, one run directory per member: ``.hydra/config.yaml``,
  ``status.json``, ``metrics.jsonl``), read offline;
- a W&B group (``wandb:<entity>/<project>/<group>``), read through ``wandb.Api`` (offline W&B runs cannot be
  read back by Python, so offline analysis always reads the run directories);
- a committed sweep (``sweeps/<name>/`` with ``raw/``): the same records from its raw results (redi.analysis.raw).

Rows that share a step (training metrics and an evaluation logged at the same step) are merged into one row.
The per-step accuracy every curve, best step and collapse replay reads is ``eval/<bench>/curve/<metric>``
(:func:`curve_column`): the curve subset a run logged with ``eval.curve_limit``, else its plain
``eval/<bench>/<metric>`` (it scored every problem at every point), so each curve scores the same problems.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from redi.analysis import raw
from redi.analysis.pairing import arm_labels, arm_settings, replicate_of
from redi.infra.status import STATES, RunState
from redi.infra.wandb_names import format_value  # the spelling of hyperparameters in W&B tags and labels
from redi.objectives import OBJECTIVES, root_hyperparameters

REPO = Path(__file__).resolve().parents[2]

#: A committed sweep's runs are located as ``raw/<run>`` (relative to the sweep; redi.analysis.raw).
RAW_PREFIX = "raw/"
#: Every objective's declared hyperparameters (alpha, beta, gamma, nll_weight, ...): root keys, one column each.
HYPERPARAMETERS = root_hyperparameters()
#: Columns describing the run, in this order, before ``step`` and the metric columns.
RUN_COLUMNS = (
    "run",
    "run_id",
    "config",
    "variant",
    "objective",
    *HYPERPARAMETERS,
    "lr",
    "seed",
    "replicate",
    "arm",
    "mode",
    "status",
    "collapse_step",
    "final_step",
    "location",
)
#: The configuration's hyperparameters (a configuration is a run up to its seed).
CONFIG_KEYS = ("objective", *HYPERPARAMETERS, "lr")
#: Data settings that make a run a different experiment at the same hyperparameters, and their label.
VARIANT_KEYS = {"data.self_generated.enabled": "self-generated", "data.builder.swap_pairs": "labels swapped"}
#: Root keys read from each run's composed config.
RUN_KEYS = (
    "objective.name",
    *HYPERPARAMETERS,
    "lr",
    "seed",
    "mode",
    "sweep.name",
    "trainer.collapse",
    *VARIANT_KEYS,
)

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


# ---------------------------------------------------------------------------------------------------------------
# helpers


def lookup(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``, also accepting a flat ``config["a.b"]`` (as some W&B configs are)."""
    if dotted in config:
        return config[dotted]
    node: Any = config
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return default
    return node


def _number(value: Any) -> float | None:
    """A float from a JSON/W&B value (``"nan"``/``"inf"`` strings included); None when absent or not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def data_variant(config: Mapping[str, Any]) -> str:
    """The run's data variant ("" for the teacher's pairs as built), e.g. ``labels swapped``."""
    return ", ".join(label for key, label in VARIANT_KEYS.items() if lookup(config, key) is True)


def config_label(
    objective: str, hyper: Mapping[str, Any] | None = None, lr: Any = None, variant: str = ""
) -> str:
    """The configuration's name as the paper writes it, e.g. ``REDI alpha=0.8, lr=1e-6 [labels swapped]``.

    ``hyper`` holds root hyperparameters; the label shows those the objective declares (RPO: beta and nll_weight).
    """
    hyper = hyper or {}
    spec = OBJECTIVES.get(objective)
    name = spec.label if spec is not None else str(objective)  # the objective module's declared label
    keys = spec.hyperparameters if spec is not None else tuple(k for k in HYPERPARAMETERS if k in hyper)
    if objective == "redi" and _number(hyper.get("alpha")) == 1.0:
        name, keys = "symmetric", tuple(k for k in keys if k != "alpha")
    parts = [f"{k}={format_value(_number(hyper[k]))}" for k in keys if _number(hyper.get(k)) is not None]
    if _number(lr) is not None:
        parts.append(f"lr={format_value(_number(lr))}")
    label = f"{name} {', '.join(parts)}".strip()
    return f"{label} [{variant}]" if variant else label


# ---------------------------------------------------------------------------------------------------------------
# sources


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


# ---------------------------------------------------------------------------------------------------------------
# the table


def _int_or_none(value: Any) -> int | None:
    number = _number(value)
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
        hyper = {k: _number(rec.config.get(k)) for k in HYPERPARAMETERS}
        lr = _number(rec.config.get("lr"))
        steps: dict[int, dict[str, Any]] = {}
        for row in map(current_names, rec.history):
            step = _int_or_none(row.get("step"))
            if step is None:
                continue
            merged = steps.setdefault(step, {})
            for key, value in row.items():
                if key != "step" and "/" in key:
                    metric_names.add(key)
                    number = _number(value)
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


def problem_scores(frame: pd.DataFrame, location: str, step: int, benchmark: str | None = None) -> pd.Series:
    """Per-problem mean correctness of the run at ``location`` and ``step`` (a run directory's eval/step_N.jsonl, or
    a committed sweep's raw/): a Series indexed by (benchmark, prompt_id). FileNotFoundError when not evaluated."""
    from redi.eval import paired

    if location.startswith(RAW_PREFIX):
        return raw.problem_scores(frame.attrs["source"], location.removeprefix(RAW_PREFIX), step, benchmark)
    return paired.problem_scores(location, step, benchmark)


def eval_steps(frame: pd.DataFrame, location: str) -> list[int]:
    """The steps with per-sample evaluations of the run at ``location``, ascending."""
    from redi.eval import paired

    if location.startswith(RAW_PREFIX):
        return raw.eval_steps(frame.attrs["source"], location.removeprefix(RAW_PREFIX))
    return paired.eval_steps(location)


def sample_rows(frame: pd.DataFrame, location: str, step: int) -> pd.DataFrame:
    """The run's samples at ``step`` as raw/samples.tsv rows (redi.analysis.raw): read from a committed sweep, or
    read and classified from a run directory's eval/step_N.jsonl."""
    if location.startswith(RAW_PREFIX):
        samples = raw.read_samples(frame.attrs["source"])
        run = location.removeprefix(RAW_PREFIX)
        return samples[(samples["run"] == run) & (samples["step"] == int(step))].reset_index(drop=True)
    run_dir = Path(location)
    reader = raw.FailureReader(raw.run_entry(run_dir)["config"])
    rows = [r for r in raw.sample_lines(run_dir.name, run_dir, reader) if int(r[1]) == int(step)]
    out = pd.DataFrame(rows, columns=list(raw.SAMPLE_COLUMNS))
    out["step"] = out["step"].astype(int)
    return out


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
