"""The pre-flight every sweep member's config passes before any member starts, as redi.run registers it.

The checks live above this package (redi.validate), so redi.run hands them down with :func:`check_members_with`
and the sweeper (redi.sweeps.members) calls :func:`check_member`. Kept free of Hydra's plugin classes: redi.run
imports it before Hydra scans its plugins (a sweeper class imported before that scan would subclass a
BasicSweeper the scan then replaces).
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

MemberCheck = Callable[
    [DictConfig], None
]  # raises ValueError naming what keeps a member's config from running
_checks: list[MemberCheck] = []


def check_members_with(check: MemberCheck) -> None:
    """Set the check each member's composed config (its ``hydra`` node included) passes before any member starts."""
    _checks[:] = [check]


def check_member(cfg: DictConfig) -> None:
    """Run the registered check on one member's config (nothing when none is registered: composing is the check)."""
    for check in _checks:
        check(cfg)
