"""Hydra launcher plugins of the redi harness (Hydra only instantiates plugins from the ``hydra_plugins`` package).

The behaviour lives in :mod:`redi.sweeps.launchers`; these are the concrete classes that conf/hydra/launcher/*.yaml name.
"""

from hydra_plugins.hydra_submitit_launcher import submitit_launcher

from redi.sweeps.launchers import TolerantSubmititMixin


class SlurmLauncher(TolerantSubmititMixin, submitit_launcher.SlurmLauncher):
    """SLURM job arrays through submitit; members are requeued on time-out/preemption up to ``max_num_timeout``."""


class LocalLauncher(TolerantSubmititMixin, submitit_launcher.LocalLauncher):
    """Local subprocesses through submitit, with the same members table and exit status as the SLURM launcher."""
