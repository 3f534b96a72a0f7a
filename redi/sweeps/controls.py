"""Every preference run's control: REDI with alpha = 0 (SFT on the positives) on the same lr, seeds, data and batches.

A gain means something only against what the same compute does without the negatives, so ``control=true`` (the
default) gives every preference run its control: a sweep gets it as one more member at each lr and seed
(:func:`add_controls`), a single run trains it beside itself (redi.run). The control's overrides are the run's
with the objective's keys replaced by ``alpha=0.0`` (and ``objective=redi`` when another objective was chosen),
and label swapping dropped (the control of a label inversion is SFT on the positives as built). It is spelt as a
user spells a control, so a control started by hand or by another sweep member has the same run directory and is
not trained twice (``trainer.wait_for_lock=true``: one that is still training is waited for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONTROL_ALPHA = "alpha=0.0"
WAIT = "trainer.wait_for_lock=true"  # a control another process is training: wait for it, then read it
DROPPED = ("data.builder.swap_pairs",)  # the control trains on the pairs as built


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def is_control(cfg: DictConfig) -> bool:
    """REDI with alpha = 0 on pairs as built: the control itself."""
    swapped = OmegaConf.select(cfg, "data.builder.swap_pairs", default=False)
    return cfg.objective.name == "redi" and cfg.get("alpha") == 0 and not swapped


def wants_control(cfg: DictConfig) -> bool:
    """A training run of a preference objective, not the control itself, with ``control=true``."""
    from redi.objectives import OBJECTIVES

    spec = OBJECTIVES.get(cfg.objective.name)
    return (
        bool(cfg.get("control", False))
        and cfg.get("mode", "train") == "train"
        and spec is not None
        and spec.needs_pairs
        and not is_control(cfg)
    )


def control_overrides(overrides: Sequence[str]) -> list[str]:
    """The control's command-line overrides from a run's: its objective keys out, ``objective=redi alpha=0.0`` in."""
    from redi.objectives import root_hyperparameters

    drop = {"objective", *root_hyperparameters(), *DROPPED}
    kept = [o for o in overrides if _key(o) not in drop and not _key(o).startswith("objective.")]
    return [*kept, "objective=redi", CONTROL_ALPHA]


def identity(cfg: DictConfig) -> str:
    """What makes two members the same run: the run's identity (redi.infra.run_identity: its resolved config)."""
    from redi.infra.run_identity import digest
    from redi.infra.run_identity import identity as run_identity

    return digest(run_identity(cfg))


def add_controls(jobs: list[list[str]], compose: Callable[[list[str]], DictConfig]) -> list[list[str]]:
    """``jobs`` with the control of every member that wants one, first and once each (``compose``: a job's config).

    A control whose config is already a member (``alpha=0`` typed by the user, or a shared lr and seed) is not
    added again; a member that does not compose is left as it is (the sweeper reports it).
    """
    seen: set[str] = set()
    configs: list[Any] = []
    for job in jobs:
        try:
            cfg = compose(job)
        except Exception:  # noqa: BLE001  (the sweeper reports a member that does not compose)
            configs.append(None)
            continue
        configs.append(cfg)
        seen.add(identity(cfg))
    controls: list[list[str]] = []
    for job, cfg in zip(jobs, configs, strict=True):
        if cfg is None or not wants_control(cfg):
            continue
        candidate = control_overrides(job)
        try:
            control_cfg = compose(candidate)
        except Exception:  # noqa: BLE001  (a control that does not compose is no member)
            continue
        key = identity(control_cfg)
        if key not in seen:
            seen.add(key)
            controls.append([*candidate, WAIT])
    return controls + jobs
