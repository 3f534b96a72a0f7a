"""A sweeper for the paper's grids, which are lists of points rather than cartesian products.

``hydra.sweeper.members`` lists the sweep's points, each a string of overrides ("beta=0.001 lr=1e-6"); the
command line's own sweeps (``seed=1,2``) are crossed with them, and with no members it is Hydra's basic sweeper.
A member whose overrides do not compose is reported and left out, so it fails alone: the others still run.
Every preference member gets its alpha = 0 control as a member too, unless ``control=false``
(redi.sweeps.controls).
"""

from __future__ import annotations

import itertools
import json
import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from redi.sweeps.controls import add_controls
from redi.sweeps.launchers import TolerantSubmititMixin
from redi.sweeps.table import (
    TABLE_NAME,
    Member,
    SweepMembersFailed,
    add_unlaunched_failures,
    failure_message,
    format_table,
    member_state,
    read_status,
    summarize,
    write_table,
)

log = logging.getLogger(__name__)
FAILURES_FILE = "composition_failures.json"


@dataclass
class MembersSweeperConf:
    _target_: str = "hydra_plugins.redi_sweeper.MembersSweeper"
    max_batch_size: int | None = None
    params: dict[str, str] | None = None
    members: list[str] = field(default_factory=list)


def expand(members: list[str], arguments: list[list[str]]) -> list[list[str]]:
    """Each member's overrides crossed with the cartesian product of the command line's sweeps.

    ``arguments`` is BasicSweeper.split_arguments' product: a list of override lists.
    """
    points = [shlex.split(m) for m in members] or [[]]
    jobs = []
    for point, args in itertools.product(points, arguments or [[]]):
        keys = {a.split("=", 1)[0].lstrip("+~") for a in args}
        jobs.append([o for o in point if o.split("=", 1)[0].lstrip("+~") not in keys] + list(args))
    return jobs


class MembersSweeper(BasicSweeper):
    """Hydra's basic sweeper plus listed points, launching every member whose config composes."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        members: list[str] | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.members = list(members or [])

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        product = [job for batch in self.split_arguments(overrides, None) for job in batch]
        jobs = expand(self.members, product)
        loader = self.hydra_context.config_loader
        jobs = add_controls(jobs, lambda job: loader.load_sweep_config(self.config, list(job)))

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        good, failures = [], []
        for job in jobs:
            try:
                self.validate_batch_is_legal([job])
                good.append(job)
            except Exception as e:  # noqa: BLE001  (any composition error fails this member only)
                message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log.error("member %s does not compose and is left out: %s", " ".join(job), message)
                failures.append({"overrides": job, "error": message})
        if failures:
            (sweep_dir / FAILURES_FILE).write_text(json.dumps(failures, indent=2) + "\n")
        log.info("sweep %s: %d members to launch, %d left out", sweep_dir, len(good), len(failures))
        returns = []
        size = self.max_batch_size or len(good) or 1
        for start in range(0, len(good), size):
            returns.append(self.launcher.launch(good[start : start + size], initial_job_idx=start))
        results = [r for batch in returns for r in batch]
        if isinstance(
            self.launcher, TolerantSubmititMixin
        ):  # the submitit launchers wrote members.tsv already
            members = add_unlaunched_failures(sweep_dir, failures)
        else:
            members = report_members(sweep_dir, good, results, failures)
        message = failure_message(members, sweep_dir / TABLE_NAME)
        if message is not None:  # every member has ended; the multirun exits non-zero, naming the table
            raise SweepMembersFailed(message)
        return returns


def report_members(
    sweep_dir: Path, jobs: list[list[str]], results: list[Any], failures: list[dict]
) -> list[Member]:
    """Print and write (members.tsv) the state of every member of a sweep run by an in-process launcher."""
    members = []
    for i, (job, result) in enumerate(zip(jobs, results, strict=True)):
        value = result._return_value if isinstance(getattr(result, "_return_value", None), dict) else {}
        run_dir = value.get("run_dir") or str(getattr(result, "working_dir", "") or "")
        status = read_status(run_dir)
        state = member_state(None, result, status)
        members.append(
            Member(
                i,
                " ".join(job),
                "local",
                state,
                (status or {}).get("step"),
                run_dir,
                str(Path(run_dir) / "run.log") if run_dir else "",
                value.get("reason", ""),
            )
        )
    for j, failure in enumerate(failures, start=len(members)):
        members.append(
            Member(j, " ".join(failure["overrides"]), "-", "failed", None, "", "", failure["error"])
        )
    write_table(members, sweep_dir / TABLE_NAME)
    log.info("sweep %s: %s\n%s", sweep_dir, summarize(members), format_table(members))
    return members
