"""The redi sweeper plugin (Hydra instantiates plugins found in the ``hydra_plugins`` package only).

The behaviour lives in :mod:`redi.sweeps.members`; ``hydra/sweeper=members`` selects it. When every member has
ended, the sweep's paired gains over its alpha = 0 controls are printed and written beside members.tsv
(redi.analysis.gains.write_sweep_gains): composed here, above both, so the sweeps floor does not import the analysis.
"""

from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

from redi.sweeps import members as sweeper
from redi.sweeps.launchers import SweepMembersFailed


class MembersSweeper(sweeper.MembersSweeper):
    """Listed sweep points crossed with the command line's sweeps; a member that does not compose fails alone;
    every preference member gets its control; the sweep ends with the paired table."""

    def sweep(self, arguments: list[str]) -> Any:
        from redi.analysis.gains import write_sweep_gains

        sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            returns = super().sweep(arguments)
        except SweepMembersFailed:
            write_sweep_gains(sweep_dir)
            raise
        write_sweep_gains(sweep_dir)
        return returns


ConfigStore.instance().store(
    group="hydra/sweeper", name="members", node=sweeper.MembersSweeperConf, provider="redi"
)
