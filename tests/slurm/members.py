"""Finding a sweep member's run directory and SLURM job while the sweep runs (shared by the SLURM tests)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf


def member_dir(runs: Path, override: str) -> Path | None:
    """The member directory whose overrides (.hydra/overrides.yaml; directory names are short) include
    ``override`` (e.g. ``trainer.epochs=2``), or None while no such member has started."""
    for overrides in runs.glob("sweeps/*/*/.hydra/overrides.yaml"):
        try:
            if override in (OmegaConf.load(overrides) or []):
                return overrides.parent.parent
        except (OSError, ValueError):  # being written
            continue
    return None


def job_id(run_dir: Path) -> str:
    """The SLURM job id the launcher recorded in the member's Hydra config (hydra.job.id)."""
    return str(OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.job.id)
