"""W&B names as people use them: the run is called by its run directory's short name, single runs are grouped by
experiment, a sweep's members by the sweep, and the cached stage-1 run is job_type "stage1" in group "stage1"."""

from __future__ import annotations

from pathlib import Path


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
