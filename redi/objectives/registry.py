"""The objective registry: adding an objective is one module with one ``@register`` and one YAML file."""

from __future__ import annotations

from collections.abc import Callable

from redi.objectives.base import ObjectiveConfigError, ObjectiveFn, ObjectiveSpec

OBJECTIVES: dict[str, ObjectiveSpec] = {}


def _no_checks(**_: float) -> None:
    return None


def register(
    name: str,
    *,
    needs_pairs: bool,
    needs_reference: bool = False,
    hyperparameters: tuple[str, ...] = (),
    weight_unit: str = "examples",
    validate: Callable[..., None] = _no_checks,
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
            hyperparameters=hyperparameters,
            weight_unit=weight_unit,
            validate=validate,
            description=(fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
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


def require_range(
    key: str,
    value: float | None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
) -> None:
    """Raise an ObjectiveConfigError naming ``key`` unless ``value`` is a number inside the range."""
    if value is None:
        raise ObjectiveConfigError(f"{key}: required by this objective but not set")
    if not isinstance(value, (int, float)) or value != value:
        raise ObjectiveConfigError(f"{key}={value!r}: must be a number")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        bound = ">=" if low_inclusive else ">"
        raise ObjectiveConfigError(f"{key}={value}: must be {bound} {low}")
    if high is not None and value > high:
        raise ObjectiveConfigError(f"{key}={value}: must be <= {high}")
