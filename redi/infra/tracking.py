"""Metrics to W&B (online, offline or off) and to the run's metrics.jsonl, behind one interface, rank 0 only."""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from redi.infra.status import atomic_write_text

log = logging.getLogger(__name__)


def resolve_wandb_mode(configured: str | None) -> str:
    """logger.wandb_mode, else WANDB_MODE, else online when credentials exist, else offline."""
    mode = configured or os.environ.get("WANDB_MODE")
    if mode:
        if mode in ("dryrun",):
            return "offline"
        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"logger.wandb_mode / WANDB_MODE={mode!r}: expected online, offline or disabled")
        return mode
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        if netrc.netrc().authenticators("api.wandb.ai"):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError):
        pass
    return "offline"


def format_value(value: float | None) -> str:
    """Short, stable spelling of a hyperparameter: 1e-06 -> 1e-6, 0.0003 -> 3e-4, 0.80 -> 0.8."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    if value != 0 and abs(value) < 1e-2:
        mantissa, exponent = f"{value:.3e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def run_tags(config: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """Tags that let W&B filter and colour a run by what was swept: ``objective:redi``, ``alpha:0.8``, ``lr:1e-6``.

    ``config`` is the resolved run config; ``keys`` the root keys to tag (the objective's, lr, seed) when set.
    """
    objective = (config.get("objective") or {}).get("name")
    tags = [f"objective:{objective}"] if objective else []
    for key in keys:
        if config.get(key) is not None:
            tags.append(f"{key}:{format_value(float(config[key]))}")
    sweep = (config.get("sweep") or {}).get("name")
    if sweep:
        tags.append(f"sweep:{sweep}")
    return tags


class MetricsFile:
    """Append-only JSON lines, one object per logged step; truncated back to a checkpoint's step on resume."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(_finite(record), sort_keys=True) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by a crash: everything before it is intact
        return rows

    def truncate_after(self, step: int) -> None:
        """Keep the records with step <= ``step`` (those logged after the checkpoint will be logged again)."""
        rows = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: write them as strings so the file stays valid JSON lines."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


class Tracker:
    """Log metrics and summaries to metrics.jsonl and, unless disabled, W&B; a no-op off rank 0."""

    def __init__(self, run_dir: Path, *, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.metrics = MetricsFile(self.run_dir / "metrics.jsonl")
        self.wandb_run = None
        self.mode = "disabled"

    def start_wandb(
        self,
        *,
        mode: str,
        project: str,
        entity: str | None,
        group: str | None,
        job_type: str,
        name: str | None,
        tags: list[str],
        config: dict[str, Any],
        run_id: str | None,
    ) -> str | None:
        """Start (or resume, with the same id) the W&B run; returns its id."""
        self.mode = mode
        if not self.enabled or mode == "disabled":
            return None
        import wandb

        self.wandb_run = wandb.init(
            project=project,
            entity=entity,
            group=group,
            job_type=job_type,
            name=name,
            tags=tags,
            config=config,
            id=run_id,
            resume="allow",
            dir=str(self.run_dir),
            mode=mode,
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )
        for prefix in ("train", "eval"):
            self.wandb_run.define_metric(f"{prefix}/*", step_metric="step")
        return self.wandb_run.id

    @property
    def wandb_location(self) -> str | None:
        """Where to find the W&B run: its URL online, its directory offline."""
        if self.wandb_run is None:
            return None
        if self.mode == "online":
            return self.wandb_run.url
        return str(Path(self.wandb_run.dir).parent)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        record = {"step": step, **metrics}
        self.metrics.append(record)
        if self.wandb_run is not None:
            self.wandb_run.log(_finite(record))

    def truncate_after(self, step: int) -> None:
        """On resume: drop what was logged after the checkpoint's step (it will be logged again)."""
        if self.enabled:
            self.metrics.truncate_after(step)

    def summary(self, values: dict[str, Any]) -> None:
        if self.enabled and self.wandb_run is not None:
            for k, v in values.items():
                self.wandb_run.summary[k] = v

    def finish(self, exit_code: int = 0) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=exit_code)
            self.wandb_run = None
