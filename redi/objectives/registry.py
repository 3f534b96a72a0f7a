"""The objective registry, filled by the ``@register`` of every module in redi.objectives (found by pkgutil)."""

from __future__ import annotations

from collections.abc import Callable

from redi.objectives.base import Hyperparameter, ObjectiveConfigError, ObjectiveFn, ObjectiveSpec, Option

OBJECTIVES: dict[str, ObjectiveSpec] = {}


def register(
    name: str,
    *,
    needs_pairs: bool,
    needs_reference: bool = False,
    hyperparameters: tuple[Hyperparameter, ...] = (),
    label: str | None = None,
    options: tuple[Option, ...] = (),
) -> Callable[[ObjectiveFn], ObjectiveFn]:
    """Register ``fn(policy, reference, **hyperparameters) -> ObjectiveOutput`` under ``name``."""

    def decorator(fn: ObjectiveFn) -> ObjectiveFn:
        if name in OBJECTIVES:
            raise ValueError(f"objective {name!r} registered twice")
        OBJECTIVES[name] = ObjectiveSpec(
            name=name,
            fn=fn,
            needs_pairs=needs_pairs,
            needs_reference=needs_reference,
            params=tuple(hyperparameters),
            label=label or name.upper(),
            options=tuple(options),
        )
        return fn

    return decorator


def get_objective(name: str) -> ObjectiveSpec:
    """Look up a registered objective; the error names the known ones."""
    if name not in OBJECTIVES:
        raise ObjectiveConfigError(f"objective.name: unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


def root_hyperparameters() -> tuple[str, ...]:
    """Every root config key some objective reads (alpha, beta, gamma, ...), sorted."""
    return tuple(sorted({k for spec in OBJECTIVES.values() for k in spec.hyperparameters}))
