"""Hydra launchers for sweeps: the submitit plugin's SLURM and local launchers, tolerant of failed members.

The plugin's ``launch`` stops at the first member whose job failed. These subclasses submit the same job array
(so a requeued member still reruns the same call, recomposing the same config into the same run directory), then
wait for *every* member, read each member's state from its run directory's ``status.json`` and print a table of
members, also written to ``<sweep dir>/members.tsv`` (the table: redi.sweeps.table).

How the multirun ends: when every member finished (state completed, collapsed or diverged: those are results, not
errors) it exits 0. When any member did not (its job raised, was cancelled or ran out of requeues, or its run ended
"failed"; or it was stopped by a signal, checkpointed: "interrupted", as its status.json says, and resumed by
running the same command again), those members are returned to Hydra as failed jobs carrying one
:class:`SweepMembersFailed` error that names members.tsv, so ``python -m redi.run -m ...`` exits 1 after *all*
members ended and the table was written. (Hydra's basic sweeper raises that error by reading the returned values;
redi.sweeps.members.MembersSweeper says it in one line and exits 1.)

Selected with ``hydra/launcher=slurm`` or ``hydra/launcher=local`` (conf/hydra/launcher/*.yaml), which name the
concrete classes in ``hydra_plugins.redi_launchers`` (Hydra instantiates launchers from that package only).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf, open_dict

from redi.infra.status import RunState
from redi.sweeps.table import (
    FAILED,
    TABLE_NAME,
    Member,
    SweepMembersFailed,
    error_line,
    failure_message,
    format_table,
    int_or_none,
    member_state,
    read_status,
    record_failure,
    shown_overrides,
    summarize,
    write_table,
)

log = logging.getLogger(__name__)


def _killed_by(job: Any) -> str | None:
    """The signal that ended a local job's process ("SIGKILL"), None for a SLURM job or a process that exited.

    submitit's local job reports only "INTERRUPTED" for it; its process's return code (-signal) says which.
    """
    process = getattr(job, "_process", None)
    code = process.poll() if process is not None else None
    if code is None or code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def check_layout(params: dict[str, Any]) -> None:
    """Refuse a job layout redi cannot run, before anything is submitted: one process (task) per GPU.

    ``params`` are the launcher's settings (hydra.launcher.*): ``nodes`` x ``tasks_per_node`` processes, each on
    one of the node's ``gpus_per_node`` GPUs (its local rank). Raises ValueError naming the keys and values.
    """
    for key in ("nodes", "tasks_per_node"):
        value = params.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"hydra.launcher.{key}={value!r}: must be a whole number >= 1")
    gpus = params.get("gpus_per_node")
    if gpus in (None, 0):
        return
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise ValueError(f"hydra.launcher.gpus_per_node={gpus!r}: must be a whole number >= 0 (or null)")
    if params.get("tasks_per_node", 1) != gpus:
        raise ValueError(
            f"hydra.launcher.gpus_per_node={gpus} with hydra.launcher.tasks_per_node="
            f"{params.get('tasks_per_node', 1)}: redi runs one process per GPU, so set "
            f"hydra.launcher.tasks_per_node={gpus} (global batch = micro_batch_size x grad_accum_steps x nodes x "
            "tasks_per_node)"
        )


def requeue_count() -> int:
    """How many times SLURM has requeued the current job (0 outside SLURM or on the first start)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


class TolerantSubmititMixin(submitit_launcher.BaseSubmititLauncher):
    """Submit the sweep as the plugin does, then wait for all members and report them (see the module doc)."""

    def _executor(self) -> Any:
        import submitit

        init_keys = {"submitit_folder", "max_num_timeout"}
        init = {"folder": self.params["submitit_folder"]}
        if "max_num_timeout" in self.params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = self.params["max_num_timeout"]
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                (k if k in shared else f"{self._EXECUTOR}_{k}"): v
                for k, v in self.params.items()
                if k not in init_keys
            }
        )
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and len(job_overrides) > 0
        check_layout(dict(self.params))
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")

        args: list[tuple[Any, ...]] = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*args, strict=True))
        log.info(f"Submitted {len(jobs)} jobs: {', '.join(j.job_id for j in jobs)}")

        returns: list[JobReturn] = []
        members: list[Member] = []
        for (overrides, *_), idx, job in zip(
            args, range(initial_job_idx, initial_job_idx + len(jobs)), jobs, strict=True
        ):
            ret, member = self._collect(job, idx, overrides)
            returns.append(ret)
            members.append(member)

        self._members = [*getattr(self, "_members", []), *members]
        table_path = sweep_dir / TABLE_NAME
        write_table(self._members, table_path)
        log.info(
            f"Sweep members ({summarize(self._members)}), written to {table_path}:\n{format_table(self._members)}"
        )

        message = failure_message(members, table_path)
        if message is not None:
            error = SweepMembersFailed(message)
            for ret, m in zip(returns, members, strict=True):
                if m.failed:
                    ret.status = JobStatus.FAILED
                    ret.return_value = error
        return returns

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        """Run one member inside its job (submitit calls this); an interrupted run under SLURM leaves no result.

        A run stopped by a termination signal checkpointed and returned state "interrupted". Under SLURM that
        signal means the job is being requeued (``scontrol requeue``, preemption) or cancelled: a result now
        would make the launcher collect the member as failed while SLURM runs it again. So the task exits without
        one, and submitit waits for the requeued run (or reports the cancellation).
        """
        ret = super().__call__(*args, **kwargs)
        value = ret._return_value if ret.status == JobStatus.COMPLETED else None
        if (
            self._EXECUTOR == "slurm"
            and isinstance(value, dict)
            and value.get("state") == RunState.INTERRUPTED
        ):
            log.warning(
                "run interrupted (%s): exiting without a result for SLURM to requeue", value.get("reason")
            )
            raise SystemExit(1)
        return ret

    def _collect(self, job: Any, idx: int, overrides: list[str]) -> tuple[JobReturn, Member]:
        """Wait for one member's job and turn its outcome into (JobReturn for Hydra, table row)."""
        ret: JobReturn | None = None
        error: BaseException | None = None
        try:
            ret = job.results()[0]
        except Exception as exc:  # the job failed, was cancelled or ran out of requeues: record it, go on
            error = exc
        run_dir = ""
        if ret is not None and ret.hydra_cfg is not None:
            run_dir = str(ret.hydra_cfg.hydra.runtime.output_dir)
        else:
            run_dir = self._run_dir_of(overrides, idx)
        status = read_status(run_dir)
        state = member_state(error, ret, status)
        if error is None and ret is not None and ret.status != JobStatus.COMPLETED:
            error = ret._return_value
        if state == FAILED and (signal_name := _killed_by(job)):
            error = f"{error_line(error)}; its process was killed by {signal_name}"
        reason = record_failure(run_dir, status, error, Path(job.paths.stderr)) if state == FAILED else ""
        run_log = Path(run_dir) / "run.log" if run_dir else None
        log_path = str(run_log) if run_log is not None and run_log.exists() else str(job.paths.stderr)
        member = Member(
            member=idx,
            overrides=shown_overrides(filter_overrides(overrides)),
            job_id=str(job.job_id),
            state=state,
            step=int_or_none(None if status is None else status.get("step")),
            run_dir=run_dir,
            log=log_path,
            error=reason[:300],
        )
        if ret is None:
            ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=error)
        return ret, member

    def _run_dir_of(self, overrides: list[str], idx: int) -> str:
        """The member's run directory composed here, for a job that did not return one ("" when it cannot compose)."""
        assert self.hydra_context is not None and self.config is not None
        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg.hydra.job):
                cfg.hydra.job.num = idx
            return str(Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir))
        except Exception:  # a bad override: the job failed for the same reason
            return ""
