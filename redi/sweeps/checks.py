"""Checks of the launcher settings (``hydra.launcher.*``), run by redi.validate; free of submitit and torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redi.config.checks import Checks


def _launcher(cfg: Any) -> Any:
    """hydra.launcher of the composed config, or of the running Hydra job, or None."""
    if "hydra" in cfg:
        return cfg.hydra.get("launcher")
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().launcher if HydraConfig.initialized() else None


def check_launcher(root: Checks) -> None:
    """Resources a submitit launcher (local or SLURM) is asked for: whole, positive numbers."""
    from redi.config.checks import Checks

    launcher = _launcher(root.node)
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
