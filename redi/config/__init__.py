"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

Each YAML option in ``conf/<group>/`` extends ``base_<group>`` from here, so a misspelled key or a wrong type fails
at composition. One module per group (``model``, ``data``, ``trainer`` with ``stage1``, ``eval``, ``objective``,
``run`` for logger/experiment/sweep/hub/paths) and ``root`` for the composed ``Config``. Importing this package
loads Hydra and OmegaConf only (no torch), so a rejected config fails before the heavy libraries load.
Cross-field checks that Hydra cannot express live beside their modules and run from :mod:`redi.validate`.
"""

from redi.config.data import (
    BuilderConfig,
    DataConfig,
    ModelTeacherConfig,
    SelfGeneratedConfig,
    SyntheticTeacherConfig,
)
from redi.config.eval import BenchmarkConfig, EvalConfig, GraderConfig
from redi.config.model import LoraConfig, ModelConfig, TinyArchConfig
from redi.config.objective import ObjectiveConfig, objective_node, objective_schema
from redi.config.root import BaseConfig, Config, register_configs
from redi.config.run import ExperimentConfig, HubConfig, LoggerConfig, PathsConfig, SweepConfig
from redi.config.trainer import CollapseConfig, StageOneConfig, TrainerConfig

__all__ = [
    "BaseConfig",
    "BenchmarkConfig",
    "BuilderConfig",
    "SelfGeneratedConfig",
    "CollapseConfig",
    "Config",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "GraderConfig",
    "HubConfig",
    "LoggerConfig",
    "LoraConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "PathsConfig",
    "StageOneConfig",
    "SweepConfig",
    "SyntheticTeacherConfig",
    "ModelTeacherConfig",
    "TinyArchConfig",
    "TrainerConfig",
    "objective_node",
    "objective_schema",
    "register_configs",
]
