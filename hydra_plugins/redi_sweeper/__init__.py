"""The redi sweeper plugin (Hydra instantiates plugins found in the ``hydra_plugins`` package only).

The behaviour lives in :mod:`redi.sweeps.members`; ``hydra/sweeper=members`` selects it.
"""

from hydra.core.config_store import ConfigStore

from redi.sweeps import members as sweeper


class MembersSweeper(sweeper.MembersSweeper):
    """Listed sweep points crossed with the command line's sweeps; a member that does not compose fails alone."""


ConfigStore.instance().store(
    group="hydra/sweeper", name="members", node=sweeper.MembersSweeperConf, provider="redi"
)
