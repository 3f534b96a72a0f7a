"""``objective.*``: the generic schema, and each objective's schema made from its module's declarations."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any

from omegaconf import MISSING, OmegaConf


@dataclass
class ObjectiveConfig:
    """Which loss to train with; its hyperparameters are read from root keys (alpha, beta, ...) by interpolation.

    The schema of each objective is made from its module's declarations (:func:`objective_schema`).
    """

    name: str = MISSING


def objective_schema(spec: Any) -> type:
    """``objective.*`` for ``spec``: its name, each hyperparameter interpolating the root key of that name, and
    each option with its default."""
    fields = [("name", str, field(default=spec.name))]
    fields += [(p.name, float, field(default=f"${{{p.name}}}")) for p in spec.params]
    fields += [(o.name, str, field(default=o.default)) for o in spec.options]
    return make_dataclass(f"{spec.name.capitalize()}ObjectiveConfig", fields, bases=(ObjectiveConfig,))


def objective_node(spec: Any) -> dict[str, Any]:
    """The global-package node conf/objective/<name>.yaml extends: the typed objective and its root defaults."""
    return {
        "objective": OmegaConf.structured(objective_schema(spec)),
        **{p.name: p.default for p in spec.params},
    }
