"""The redi sweeper plugin (Hydra instantiates plugins found in the ``hydra_plugins`` package only).

The behaviour lives in :mod:`redi.sweeps.members`; ``hydra/sweeper=members`` selects it. When every member has
ended, the sweep's paired gains over its alpha = 0 controls are printed and written beside members.tsv
(redi.analysis.gains.write_sweep_gains): composed here, above both, so the sweeps floor does not import the analysis.
"""

from pathlib import Path

from hydra.core.config_store import ConfigStore

from redi.sweeps import members as sweeper


class MembersSweeper(sweeper.MembersSweeper):
    """Listed sweep points crossed with the command line's sweeps, every member checked before any starts; every
    preference member gets its control; the sweep ends with the paired table."""

    def ended(self, sweep_dir: Path) -> None:
        from redi.analysis.gains import write_sweep_gains

        write_sweep_gains(sweep_dir)


ConfigStore.instance().store(
    group="hydra/sweeper", name="members", node=sweeper.MembersSweeperConf, provider="redi"
)
