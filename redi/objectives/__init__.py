"""Training objectives: a registry of pure loss functions of per-sequence log-probs."""

from redi.objectives import dpo, redi, sft, simpo  # noqa: F401  (registration side effect)
from redi.objectives.base import ObjectiveConfigError, ObjectiveOutput, ObjectiveSpec, SequenceLogps
from redi.objectives.registry import OBJECTIVES, get_objective, register, root_hyperparameters

__all__ = [
    "OBJECTIVES",
    "ObjectiveConfigError",
    "ObjectiveOutput",
    "ObjectiveSpec",
    "SequenceLogps",
    "get_objective",
    "register",
    "root_hyperparameters",
]
