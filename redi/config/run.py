"""The run's bookkeeping groups: ``logger.*``, ``experiment.*``, ``sweep.*``, ``hub.*``, ``paths.*``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoggerConfig:
    """W&B and the run directory's metrics.jsonl; mode null = WANDB_MODE, else online with credentials, else offline."""

    wandb_mode: str | None = None  # online | offline | disabled
    project: str = "redi"
    entity: str | None = None
    group: str | None = None  # defaults to the sweep's name
    tags: list[str] = field(default_factory=list)
    name: str | None = None  # null: the run directory's short name
    log_model: str = (
        "online"  # the final model as a W&B artifact: online (when W&B is online) | always | never
    )


@dataclass
class ExperimentConfig:
    """A named set of overrides (an ``experiment/*.yaml`` file), recorded with the run."""

    name: str = "default"
    description: str = ""
    checks: str = (
        ""  # what a run of it shows, printed under its summary (e.g. smoke: it runs, not that it learns)
    )


@dataclass
class SweepConfig:
    """A named sweep (a ``sweep/*.yaml`` file); its name is the W&B group and the sweep directory."""

    name: str | None = None  # null: named after the sweep's command line (redi.infra.run_names.sweep_name)
    description: str = ""


@dataclass
class HubConfig:
    """Push the final model (merged weights, tokenizer, adapter if any, model card) to the Hugging Face hub.

    repo_id: "org/name" on the hub, or a local directory / file:// URL to write the same files to instead.
    endpoint: another hub endpoint (a mirror or a private hub); null = huggingface_hub's default.
    """

    push: bool = False
    repo_id: str | None = None
    private: bool = True
    revision: str | None = None  # branch to push to; null = main
    endpoint: str | None = None
    commit_message: str = "Upload model trained with redi"


@dataclass
class PathsConfig:
    runs_dir: str = "runs"
    cache_dir: str = "${oc.env:REDI_CACHE_DIR,.cache/redi}"
