"""A sweeper for the paper's grids, which are lists of points rather than cartesian products.

``hydra.sweeper.members`` lists the sweep's points, each a string of overrides ("beta=0.001 lr=1e-6"); the
command line's own sweeps (``seed=1,2``) are crossed with them, and with no members it is Hydra's basic sweeper.
Before the first member starts (or anything is submitted), every member's config is composed and passed through
the pre-flight redi.run registers (redi.sweeps.preflight); any that cannot run are named together, one line
each, and nothing runs. Every preference member gets its alpha = 0 control as a member too, unless
``control=false`` (redi.sweeps.controls). A sweep without ``sweep.name`` is named after its command line
(redi.infra.run_names.sweep_name), so rerunning the same command resumes it.
"""

from __future__ import annotations

import itertools
import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

from redi.infra.run_names import sweep_name
from redi.sweeps.controls import add_controls
from redi.sweeps.launchers import TolerantSubmititMixin
from redi.sweeps.preflight import check_member
from redi.sweeps.table import (
    TABLE_NAME,
    Member,
    failure_message,
    format_table,
    member_state,
    read_status,
    read_table,
    shown_overrides,
    summarize,
    write_table,
)

log = logging.getLogger(__name__)


def one_line(error: BaseException) -> str:
    """An error as one line: Hydra's "Error merging override alpha=x / Value 'x' ... Float" becomes
    "alpha=x: Value 'x' of type 'str' could not be converted to Float"; a multi-line ConfigError is joined by "; "."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [
        line for line in lines if not line.startswith(("full_key:", "object_type=", "Set the environment"))
    ]
    if not lines:
        return type(error).__name__
    merging = "Error merging override "
    if lines[0].startswith(merging):
        cause = [line.strip() for line in str(error.__cause__ or "").splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (cause[0] if cause else "does not compose")
        return f"{lines[0][len(merging) :]}: {detail}"
    if len(lines) > 1 and lines[0].endswith("problems in the config:"):
        return "; ".join(line.removeprefix("- ") for line in lines[1:])
    return "; ".join(lines) if len(lines) <= 2 else lines[0]


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
        self.derived_name: str | None = None

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        try:
            overrides = parser.parse_overrides(self._parse_config() + list(arguments))
        except HydraException as e:  # an override that does not parse (alpha=0.2,,8)
            _refuse(f"redi: error: {one_line(e)}")
        product = [job for batch in self.split_arguments(overrides, None) for job in batch]
        jobs = expand(self.members, product)
        problems = self._preflight(jobs)
        if problems:
            _refuse(
                f"redi: error: {len(problems)} of {len(jobs)} sweep members cannot run, so none was started:\n"
                + "\n".join(f"  - #{i} {' '.join(jobs[i]) or '(no overrides)'}: {p}" for i, p in problems)
            )
        loader = self.hydra_context.config_loader
        jobs = add_controls(jobs, lambda job: loader.load_sweep_config(self.config, list(job)))
        jobs = self._named(jobs)

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("sweep %s: %d members to launch", sweep_dir, len(jobs))
        returns = []
        size = self.max_batch_size or len(jobs) or 1
        for start in range(0, len(jobs), size):
            returns.append(self.launcher.launch(jobs[start : start + size], initial_job_idx=start))
        results = [r for batch in returns for r in batch]
        if isinstance(self.launcher, TolerantSubmititMixin):  # the submitit launchers wrote members.tsv
            members = read_table(sweep_dir / TABLE_NAME)
        else:
            members = report_members(sweep_dir, jobs, results)
        self.ended(sweep_dir)
        message = failure_message(members, sweep_dir / TABLE_NAME)
        if message is not None:  # every member has ended; the multirun exits non-zero, naming the table
            _refuse(f"redi: {message}", code=1)
        return returns

    def ended(self, sweep_dir: Path) -> None:
        """Called once every member has ended, before the multirun's last line (the plugin adds its reports)."""

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        """Name a sweep run without ``sweep.name`` after its command line, before the launcher reads its directory."""
        self.derived_name = None
        if config.sweep.get("name") is None:
            groups = [g for g in config.hydra.runtime.choices if "/" not in str(g)]
            self.derived_name = sweep_name(list(config.hydra.overrides.task), groups)
            with open_dict(config):
                config.sweep.name = self.derived_name
            log.info("sweep.name=%s (from the command line: the same command resumes it)", self.derived_name)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def _named(self, jobs: list[list[str]]) -> list[list[str]]:
        """Every member carries a derived sweep name, so its own composed config has it (W&B group, directory)."""
        if self.derived_name is None:
            return jobs
        return [[*job, f"sweep.name='{self.derived_name}'"] for job in jobs]

    def _preflight(self, jobs: list[list[str]]) -> list[tuple[int, str]]:
        """(member, problem) for every member whose config does not compose or fails the registered check."""
        assert self.hydra_context is not None and self.config is not None
        problems = []
        for i, job in enumerate(jobs):
            try:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job))
                check_member(cfg)
            except (HydraException, ValueError) as e:
                problems.append((i, one_line(e)))
        return problems


def _refuse(message: str, code: int = 2) -> None:
    """End the multirun with ``message`` (no traceback): 2 before anything ran, 1 when members did not finish."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(code)


def report_members(sweep_dir: Path, jobs: list[list[str]], results: list[Any]) -> list[Member]:
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
                shown_overrides(job),
                "local",
                state,
                (status or {}).get("step"),
                run_dir,
                str(Path(run_dir) / "run.log") if run_dir else "",
                value.get("reason", ""),
            )
        )
    write_table(members, sweep_dir / TABLE_NAME)
    log.info("sweep %s: %s\n%s", sweep_dir, summarize(members), format_table(members))
    return members
