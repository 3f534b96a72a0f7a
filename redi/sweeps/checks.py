"""Checks of the launcher settings (``hydra.launcher.*``), run by redi.validate; free of submitit and torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redi.config.checks import Checks


def _hydra(cfg: Any) -> Any:
    """The hydra node of the composed config, or of the running Hydra job, or None."""
    if "hydra" in cfg:
        return cfg.hydra
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def launcher_of(cfg: Any) -> Any:
    """hydra.launcher of the composed config, or of the running Hydra job, or None."""
    hydra = _hydra(cfg)
    return None if hydra is None else hydra.get("launcher")


def launcher_without_multirun(cfg: Any) -> str | None:
    """The launcher chosen (``hydra/launcher=slurm``) for a run started without -m, which Hydra would not use."""
    hydra = _hydra(cfg)
    if hydra is None or hydra.get("runtime") is None:
        return None
    from hydra.types import RunMode

    chosen = hydra.runtime.choices.get("hydra/launcher")
    if chosen in (None, "basic") or hydra.get("mode") not in (RunMode.RUN, "RUN"):
        return None
    return chosen


def check_launcher(root: Checks) -> None:
    """A launcher only with -m; resources a submitit launcher (local or SLURM) is asked for: whole, positive numbers."""
    from redi.config.checks import Checks

    if (chosen := launcher_without_multirun(root.node)) is not None:
        root.fail(
            f"hydra/launcher={chosen}: Hydra uses a launcher only in a multirun, so without -m this run would start "
            f"here, on this machine; add -m (python -m redi.run -m ... hydra/launcher={chosen})"
        )
        return
    launcher = launcher_of(root.node)
    if launcher is None or "timeout_min" not in launcher:  # the basic launcher: nothing to ask for
        return
    c = Checks(launcher, "hydra.launcher", root.errors)
    c.number("timeout_min", low=1, integer=True)
    c.number("nodes", low=1, integer=True)
    c.number("tasks_per_node", low=1, integer=True)
    for key in ("gpus_per_node", "cpus_per_task"):
        c.number(key, low=0 if key == "gpus_per_node" else 1, integer=True, optional=True)
    c.number("mem_gb", low=0, low_open=True, optional=True)
    if "array_parallelism" in launcher:
        c.number("array_parallelism", low=1, integer=True)
    if "max_num_timeout" in launcher:
        c.number("max_num_timeout", low=0, integer=True)
