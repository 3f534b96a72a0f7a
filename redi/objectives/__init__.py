"""Training objectives: pure loss functions of per-sequence log-probs, each one module registering itself.

Every module in this package except ``base`` and ``registry`` is imported here (pkgutil), so adding an objective
is adding its module (with ``@register``) and its conf/objective/<name>.yaml; nothing else lists objectives.
"""

import importlib
import pkgutil

from redi.objectives.base import (
    Hyperparameter,
    ObjectiveConfigError,
    ObjectiveOutput,
    ObjectiveSpec,
    Option,
    SequenceLogps,
)
from redi.objectives.registry import OBJECTIVES, get_objective, register, root_hyperparameters

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "OBJECTIVES",
    "Hyperparameter",
    "ObjectiveConfigError",
    "ObjectiveOutput",
    "ObjectiveSpec",
    "Option",
    "SequenceLogps",
    "get_objective",
    "register",
    "root_hyperparameters",
]
