"""The root schema of one run (every group plus the objectives' root keys) and its registration in Hydra's ConfigStore."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from redi.config.data import DataConfig
from redi.config.eval import EvalConfig
from redi.config.model import ModelConfig
from redi.config.objective import objective_node
from redi.config.run import ExperimentConfig, HubConfig, LoggerConfig, PathsConfig, SweepConfig
from redi.config.trainer import StageOneConfig, TrainerConfig


@dataclass
class BaseConfig:
    """The composed configuration of one run, without the objectives' root keys (see :data:`Config`)."""

    objective: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    stage1: StageOneConfig = field(default_factory=StageOneConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    lr: float = 2e-5  # stage 2 on the embedded default: stable for every objective (README, the ablation)
    seed: int = 42
    # train (then evaluate) | eval (evaluate model.init_from only) | stage1 (build stage 1 only)
    mode: str = "train"
    # a preference run's alpha = 0 control (objective=redi alpha=0, same lr, seeds, data and batches): a sweep gets
    # it as a member at each lr and seed and ends with the paired table, a single run trains it beside itself and
    # prints its gain over it (redi.sweeps.controls); false: no control
    control: bool = True


def _with_root_keys() -> type:
    """BaseConfig plus one optional root key per hyperparameter any objective declares (alpha, beta, gamma, ...).

    Root keys let sweeps read as in the paper (``alpha=0.2,0.8``); the chosen objective's YAML sets its defaults
    and every other one stays null (validate() rejects a root key the objective does not use).
    """
    from redi.objectives import root_hyperparameters

    keys = [(k, Optional[float], field(default=None)) for k in root_hyperparameters()]  # noqa: UP045 (OmegaConf)
    return make_dataclass("Config", keys, bases=(BaseConfig,))


Config = _with_root_keys()


def register_configs() -> None:
    """Put every schema into Hydra's ConfigStore (idempotent)."""
    from redi.objectives import OBJECTIVES

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=_open_benchmarks(Config))
    for name, spec in OBJECTIVES.items():  # conf/objective/<name>.yaml: [/schema/objective@_global_: <name>]
        cs.store(group="schema/objective", name=name, node=objective_node(spec))
    for group, node in {
        "model": ModelConfig,
        "data": DataConfig,
        "trainer": TrainerConfig,
        "eval": EvalConfig,
        "logger": LoggerConfig,
        "experiment": ExperimentConfig,
        "sweep": SweepConfig,
    }.items():
        cs.store(group=group, name=f"base_{group}", node=_open_benchmarks(node) if group == "eval" else node)


def _open_benchmarks(schema: type) -> Any:
    """The schema as a config whose ``eval.benchmarks`` accepts new names (Hydra makes the rest struct)."""
    from omegaconf import OmegaConf

    node = OmegaConf.structured(schema)
    benchmarks = node.benchmarks if schema is EvalConfig else node.eval.benchmarks
    benchmarks._set_flag("struct", False)
    return node
