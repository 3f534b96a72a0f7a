"""The run session: one run directory's status, metrics and W&B run, written by rank 0 and no-ops on the others.

Stages and the loop call ``session.status.update(...)`` and ``session.tracker.log(...)`` on every rank and never
branch on the rank for them (nanochat's stand-in logger is the model). ``Session.open`` marks the run running and
records how it ended when an exception leaves it: ``interrupted`` (resumable: a preemption or a stop from outside)
or ``failed`` (with the traceback), closing the W&B run without masking the exception.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redi.infra.distributed import DistEnv, describe_failure
from redi.infra.status import Status, now
from redi.infra.tracking import Tracker
from redi.infra.wandb_names import resolve_wandb_mode

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """The process received a termination signal; the run was checkpointed and can resume."""


class SignalStop(KeyboardInterrupt):
    """A termination signal outside the training loop, raised at once (redi.loop.preemption.StopAtOnce).

    A KeyboardInterrupt, so no ``except Exception`` on the way swallows it; the message names the signal and the
    phase it stopped.
    """


def _record_end(status: Status, **fields: Any) -> None:
    """Record how the run ended; a status.json that cannot be written (a full disk) is logged, and the exception
    that ended the run is the one raised, not this one."""
    try:
        status.update(**fields)
    except OSError as e:
        log.error("could not record the run's end (%s) in %s: %s", fields.get("state"), status.path, e)


class _ReadOnlyStatus(Status):
    """status.json as rank 0 writes it, for the other ranks: ``update`` changes the copy in memory only."""

    def update(self, **fields: Any) -> None:
        self.data.update(fields)


@dataclass
class Session:
    """What a stage writes to: the run directory, its status.json and its tracker (metrics.jsonl and W&B)."""

    run_dir: Path
    env: DistEnv
    status: Status
    tracker: Tracker

    @classmethod
    @contextlib.contextmanager
    def open(cls, run_dir: Path, env: DistEnv, **running: Any) -> Iterator[Session]:
        """Mark the run ``running`` (with ``running``'s fields) and record how an exception ended it."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        status = Status(run_dir) if env.is_main else _ReadOnlyStatus(run_dir)
        session = cls(run_dir, env, status, Tracker(run_dir, enabled=env.is_main))
        status.update(
            state="running", pid=os.getpid(), started_at=status.data.get("started_at") or now(), **running
        )
        try:
            yield session
        except Interrupted as e:
            _record_end(status, state="interrupted", reason=str(e))
            session.close_quietly()
            raise
        except (
            SystemExit,
            KeyboardInterrupt,
        ) as e:  # stopped from outside (submitit's requeue exits this way)
            step = status.data.get("step")
            at = f" (step {step})" if step is not None else ""
            said = f"{e}{at}" if isinstance(e, SignalStop) else f"{type(e).__name__} at step {step}"
            _record_end(status, state="interrupted", reason=said)
            session.close_quietly()
            raise
        except BaseException as e:
            _record_end(
                status, state="failed", reason=describe_failure(e, env), traceback=traceback.format_exc()
            )
            session.close_quietly()
            raise

    def start_wandb(
        self,
        logger_cfg: Any,
        *,
        group: str | None,
        job_type: str,
        tags: list[str],
        config: dict,
        name: str | None = None,
    ) -> None:
        """Start (or resume, with the id in status.json) the W&B run and record where it is."""
        run_id = self.tracker.start_wandb(
            mode=resolve_wandb_mode(logger_cfg.wandb_mode),
            project=logger_cfg.project,
            entity=logger_cfg.entity,
            group=group,
            job_type=job_type,
            name=name or logger_cfg.name,
            tags=tags,
            config=config,
            run_id=self.status.data.get("wandb_run_id"),
        )
        self.status.update(wandb_run_id=run_id, wandb=self.tracker.wandb_location, wandb_group=group)

    def end(self, state: str, **fields: Any) -> None:
        """Record the final state (and ``fields``) in status.json and close the W&B run."""
        self.status.update(state=state, ended_at=now(), **fields)
        self.tracker.finish(exit_code=0)

    def close_quietly(self) -> None:
        """Close the W&B run without masking the exception being raised (at a SLURM requeue W&B's service dies first)."""
        try:
            self.tracker.finish(exit_code=1)
        except Exception as e:  # noqa: BLE001
            log.warning("could not close the W&B run cleanly: %s: %s", type(e).__name__, e)
