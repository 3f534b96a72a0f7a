"""Starting a stage's W&B run: group, job type, and tags read from the objective's declarations."""

from __future__ import annotations

from omegaconf import DictConfig

from redi.infra.session import Session
from redi.infra.tracking import run_tags
from redi.infra.wandb_names import wandb_identity
from redi.objectives import ObjectiveSpec
from redi.validate import to_container


def start_tracking(cfg: DictConfig, spec: ObjectiveSpec, session: Session) -> None:
    """W&B run grouped by the sweep, its job type the objective, tagged by the swept keys it uses."""
    config = to_container(cfg)
    keys = (*spec.hyperparameters, "lr", "seed")
    tags = [*cfg.logger.tags, *run_tags(config, keys), f"experiment:{cfg.experiment.name}"]
    name, group, job_type = wandb_identity(cfg, session.run_dir, spec.name)
    session.start_wandb(cfg.logger, name=name, group=group, job_type=job_type, tags=tags, config=config)
