"""W&B spelled in one place: the mode (from logger.wandb_mode, WANDB_MODE or credentials), the run's name, group
and job type, the tags a run is filtered by, and how hyperparameters are spelled in tags and labels.

A run is called by its run directory's short name, single runs are grouped by experiment, a sweep's members by
the sweep, and the cached stage-1 run is job_type "stage1" in group "stage1".
"""

from __future__ import annotations

import logging
import math
import netrc
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from redi.config.checks import plain

log = logging.getLogger(__name__)


def resolve_wandb_mode(configured: str | None) -> str:
    """logger.wandb_mode, else WANDB_MODE, else online when credentials exist, else offline.

    An empty WANDB_MODE (``WANDB_MODE= redi run``, or ``export WANDB_MODE=`` to clear it) counts as unset and is
    removed from the environment, since W&B itself refuses it (a pydantic ValidationError); the log says so.
    """
    env = os.environ.get("WANDB_MODE")
    if env is not None and not env.strip():
        del os.environ["WANDB_MODE"]
        mode = resolve_wandb_mode(configured)
        log.warning("WANDB_MODE is set but empty: treated as unset (W&B %s for this run)", mode)
        return mode
    mode = configured or env
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


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def wandb_identity(cfg, run_dir: Path, objective: str) -> tuple[str, str, str]:
    """(name, group, job_type) of the W&B run of ``cfg`` in ``run_dir``; logger.name / logger.group win."""
    if cfg.experiment.name == "stage1":  # redi.stages: the cached stage-1 build
        return cfg.logger.name or f"stage1_{Path(run_dir).name[:8]}", cfg.logger.group or "stage1", "stage1"
    group = cfg.logger.group or (cfg.sweep.name if _multirun() else f"experiment:{cfg.experiment.name}")
    return cfg.logger.name or Path(run_dir).name, group, objective


def wandb_settings(cfg: Any, spec: Any, run_dir: Path) -> dict[str, Any]:
    """Session.start_wandb's arguments for a stage of ``cfg`` training ``spec`` (an ObjectiveSpec) in ``run_dir``:
    grouped by the sweep, its job type the objective, tagged by the swept keys it uses."""
    config = plain(cfg)
    keys = (*spec.hyperparameters, "lr", "seed")
    tags = [*cfg.logger.tags, *run_tags(config, keys), f"experiment:{cfg.experiment.name}"]
    name, group, job_type = wandb_identity(cfg, run_dir, spec.name)
    return {"name": name, "group": group, "job_type": job_type, "tags": tags, "config": config}
