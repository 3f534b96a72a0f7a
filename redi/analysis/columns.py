"""The tidy table's run columns and the names of configurations: which root keys each run is read for, and the
label the paper writes for a configuration (e.g. ``REDI alpha=0.8, lr=1e-6``), whatever the source of the runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redi.infra.wandb_names import format_value  # the spelling of hyperparameters in W&B tags and labels
from redi.objectives import OBJECTIVES, root_hyperparameters

__all__ = [
    "CONFIG_KEYS",
    "HYPERPARAMETERS",
    "RUN_COLUMNS",
    "RUN_KEYS",
    "VARIANT_KEYS",
    "config_label",
    "data_variant",
    "format_value",
    "lookup",
    "number_or_none",
]

#: Every objective's declared hyperparameters (alpha, beta, gamma, nll_weight, ...): root keys, one column each.
HYPERPARAMETERS = root_hyperparameters()
#: Columns describing the run, in this order, before ``step`` and the metric columns.
RUN_COLUMNS = (
    "run",
    "run_id",
    "config",
    "variant",
    "objective",
    *HYPERPARAMETERS,
    "lr",
    "seed",
    "replicate",
    "arm",
    "mode",
    "status",
    "collapse_step",
    "final_step",
    "location",
)
#: The configuration's hyperparameters (a configuration is a run up to its seed).
CONFIG_KEYS = ("objective", *HYPERPARAMETERS, "lr")
#: Data settings that make a run a different experiment at the same hyperparameters, and their label.
VARIANT_KEYS = {"data.self_generated.enabled": "self-generated", "data.builder.swap_pairs": "labels swapped"}
#: Root keys read from each run's composed config.
RUN_KEYS = (
    "objective.name",
    *HYPERPARAMETERS,
    "lr",
    "seed",
    "mode",
    "sweep.name",
    "trainer.collapse",
    *VARIANT_KEYS,
)


def lookup(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``, also accepting a flat ``config["a.b"]`` (as some W&B configs are)."""
    if dotted in config:
        return config[dotted]
    node: Any = config
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return default
    return node


def number_or_none(value: Any) -> float | None:
    """A float from a JSON/W&B value (``"nan"``/``"inf"`` strings included); None when absent or not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def data_variant(config: Mapping[str, Any]) -> str:
    """The run's data variant ("" for the teacher's pairs as built), e.g. ``labels swapped``."""
    return ", ".join(label for key, label in VARIANT_KEYS.items() if lookup(config, key) is True)


def config_label(
    objective: str, hyper: Mapping[str, Any] | None = None, lr: Any = None, variant: str = ""
) -> str:
    """The configuration's name as the paper writes it, e.g. ``REDI alpha=0.8, lr=1e-6 [labels swapped]``.

    ``hyper`` holds root hyperparameters; the label shows those the objective declares (RPO: beta and nll_weight).
    """
    hyper = hyper or {}
    spec = OBJECTIVES.get(objective)
    name = spec.label if spec is not None else str(objective)  # the objective module's declared label
    keys = spec.hyperparameters if spec is not None else tuple(k for k in HYPERPARAMETERS if k in hyper)
    if objective == "redi" and number_or_none(hyper.get("alpha")) == 1.0:
        name, keys = "symmetric", tuple(k for k in keys if k != "alpha")
    parts = [
        f"{k}={format_value(number_or_none(hyper[k]))}"
        for k in keys
        if number_or_none(hyper.get(k)) is not None
    ]
    if number_or_none(lr) is not None:
        parts.append(f"lr={format_value(number_or_none(lr))}")
    label = f"{name} {', '.join(parts)}".strip()
    return f"{label} [{variant}]" if variant else label
