"""The entry point: ``python -m redi.run [overrides]`` trains and evaluates one configuration (``-m`` sweeps).

Compose (Hydra, from conf/) -> validate -> dispatch on ``mode``: ``train`` (the training stage, after the stage-1
model it starts from when ``model.init_from=stage1``; then the hub push when ``hub.push``), ``eval`` (evaluate a
model) or ``stage1`` (build the stage-1 model only). This module is the only one that imports the stages: it hands
the training stage to stage 1 (and stage 1 to the model teacher), which train with it. Until the config is
validated it imports nothing but Hydra, OmegaConf, redi.config, redi.validate and redi.infra.run_names, so a
rejected config fails in a second, before torch, transformers or datasets load.
In a multirun a failed member is recorded (status.json "failed") and the sweep goes on; a single run re-raises.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
import time
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from redi.config import register_configs
from redi.config.checks import ConfigError
from redi.config.help import register_help_resolver
from redi.config.help import render as render_help
from redi.infra.run_names import open_run_directory, register_resolver
from redi.summary import format_summary
from redi.sweeps.preflight import check_members_with
from redi.validate import validate

log = logging.getLogger("redi")

register_configs()
register_resolver()  # redi_run_name: the run directory's short name (conf/config.yaml)
register_help_resolver()  # redi_help: the groups and root keys of --help (conf/hydra/help/redi.yaml)


def run(cfg: DictConfig, run_dir: Path, spec=None, hyper: dict[str, float] | None = None):
    """Run ``cfg``'s mode in ``run_dir``; ``spec, hyper`` are ``validate(cfg)``'s (validated here when not given).

    Resumes from the run directory's checkpoint; a run that already ended is not run again.
    """
    if spec is None or hyper is None:
        spec, hyper = validate(cfg)
    t0 = time.perf_counter()
    import torch

    from redi.infra.distributed import launch_rank, setup, teardown
    from redi.infra.lock import RunLock
    from redi.infra.publish import push_logged
    from redi.infra.run_result import RunResult
    from redi.infra.session import Session
    from redi.infra.status import Status
    from redi.inputs.model import needs_stage1_model
    from redi.loop.preemption import StopAtOnce
    from redi.stages import evaluation, stage1, teacher, training

    def stage1_model(c: DictConfig, e) -> Path:
        """The cached stage-1 run directory of ``c``, trained by the training stage when absent."""
        return stage1.ensure(c, e, training.run)

    # one process owns the run directory (redi.infra.lock) from before it reads status.json to the end; a
    # termination signal outside the training loop stops the run at once, recorded "interrupted" (StopAtOnce)
    with contextlib.ExitStack() as held:
        held.enter_context(StopAtOnce())
        if launch_rank() == 0:
            held.enter_context(RunLock(run_dir, wait=cfg.trainer.wait_for_lock))
        status = Status(run_dir)
        if status.finished:
            log.info(
                "%s already ended %r at step %s: not running it again",
                run_dir,
                status.state,
                status.data.get("step"),
            )
            return RunResult.recorded(status, run_dir, skipped=True)
        env = setup(cfg.trainer.device)
        try:
            if cfg.trainer.threads:
                torch.set_num_threads(cfg.trainer.threads)
            with Session.open(run_dir, env, objective=spec.name, hyperparameters=hyper) as session:
                # data.synthetic.teacher=model: its traces, trained and sampled once
                teacher.ensure(cfg, env, stage1_model)
                if cfg.mode == "stage1":
                    result = stage1.run(cfg, session, training.run)
                else:
                    needs_stage1 = needs_stage1_model(cfg, spec)
                    start = stage1_model(cfg, env) if needs_stage1 else None  # through the cache
                    if cfg.mode == "eval":
                        result = evaluation.run(cfg, spec, session, start)
                    else:
                        result = training.run(cfg, spec, hyper, session, start)
                        if result.state == "completed" and cfg.hub.push and env.is_main:
                            push_logged(run_dir, cfg.hub, session.status)
            result.seconds = time.perf_counter() - t0
            return result
        finally:
            teardown(env)


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors in the user's input: reported as one line naming the key, with no traceback."""
    from redi.data.errors import DataError
    from redi.model.source import ModelSourceError
    from redi.objectives import ObjectiveConfigError

    return (ConfigError, ModelSourceError, ObjectiveConfigError, DataError)


def _disk_full(error: BaseException | None) -> bool:
    """True when ``error`` or an error behind it is "no space left on the device" (ENOSPC)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _to_run_log(level: int, text: str) -> None:
    """Write ``text`` to run.log alone (Hydra's file handler; the console has it already or gets it from Hydra)."""
    record = logging.LogRecord("redi", level, __file__, 0, text, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _tell(text: str, level: int = logging.ERROR) -> None:
    """The line a run ends with, on stderr and in run.log."""
    print(text, file=sys.stderr, flush=True)
    _to_run_log(level, text)


def _failed(run_dir: Path, error: Exception) -> dict:
    """Record a failed sweep member (status.json, its traceback in run.log) and let the sweep go on."""
    from redi.infra.status import Status

    reason = f"{type(error).__name__}: {error}"
    log.error("run %s failed: %s (the sweep goes on)", run_dir, reason)
    _to_run_log(logging.ERROR, traceback.format_exc().rstrip())
    status = Status(run_dir)
    if status.state != "failed":
        status.update(state="failed", reason=reason)
    return {"state": "failed", "run_dir": str(run_dir), "reason": reason}


def _preflight(cfg: DictConfig, run_dir: Path, overrides: list[str]):
    """``validate(cfg)``, once the run directory holds no run of another config (redi.infra.run_identity) and
    ``mode=eval`` on a redi run took that run's evaluation settings (both said in the log)."""
    from redi.infra.run_identity import check_directory
    from redi.inputs.eval_settings import adopt_run_eval_settings

    if note := check_directory(run_dir, cfg):
        log.warning(note)
    source, taken = adopt_run_eval_settings(cfg, overrides)
    if taken:
        log.info(
            "mode=eval on %s: its own evaluation settings, where not typed: %s", source, ", ".join(taken)
        )
    return validate(cfg)


def _check_member(cfg: DictConfig) -> None:
    """The pre-flight of one sweep member's composed config, run for every member before any starts."""
    from redi.inputs.eval_settings import adopt_run_eval_settings

    adopt_run_eval_settings(cfg, list(cfg.hydra.overrides.task))
    validate(cfg)


check_members_with(_check_member)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict | None:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    composed = [OmegaConf.to_yaml(c) for c in (cfg, HydraConfig.instance().cfg, hc.overrides.task)]
    try:
        # before anything heavy is imported; a rejected config leaves no run directory, an accepted one is indexed
        overrides = list(hc.overrides.task)
        spec, hyper = open_run_directory(
            run_dir,
            Path(cfg.paths.runs_dir),
            overrides,
            lambda: _preflight(cfg, run_dir, overrides),
            (ValueError,),
        )
    except ValueError as e:  # ConfigError, a model source that cannot be used, a directory of another config
        from redi.infra.run_identity import RunIdentityError

        if multirun and isinstance(
            e, RunIdentityError
        ):  # that directory is another run's: touch nothing in it
            print(f"redi: error: {e}", file=sys.stderr, flush=True)
            return {"state": "failed", "run_dir": str(run_dir), "reason": str(e)}
        if multirun:
            return _failed(run_dir, e)
        print(f"redi: error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    if (earlier := _ended_earlier(cfg, run_dir, multirun)) is not None:
        return earlier
    from redi.infra.distributed import launch_rank, quiet_other_ranks
    from redi.infra.run_identity import record_config

    if launch_rank() == 0:
        record_config(run_dir, *composed)  # the config this directory's run started with, written once
    quiet_other_ranks()  # with several processes, rank 0 alone writes run.log and the summary
    user_errors = _user_errors()
    _quiet_progress_bars()
    from redi.infra.lock import RunLockedError
    from redi.infra.session import Interrupted, SignalStop

    control = None if multirun else _start_control(cfg, hc, run_dir)  # a sweep has its control as a member
    try:
        result = run(cfg, run_dir, spec, hyper)
        control_summary = _control_summary(control, run_dir) if control is not None else []
    except RunLockedError as e:  # the directory is another process's: touch nothing in it
        print(f"redi: error: {e}", file=sys.stderr, flush=True)  # not in its run.log: the holder's record
        if multirun:
            return {"state": "failed", "run_dir": str(run_dir), "reason": str(e)}
        sys.exit(e.exit_code)
    except user_errors as e:
        if multirun:
            return _failed(run_dir, e)
        _tell(f"redi: error: {e}")
        sys.exit(2)
    except Interrupted as e:  # a termination signal: checkpointed, status "interrupted", resumable
        _tell(f"redi: interrupted ({e}); run the same command again to resume", logging.WARNING)
        if multirun:
            return {"state": "interrupted", "run_dir": str(run_dir), "reason": str(e)}
        sys.exit(1)
    except SignalStop as e:  # a signal outside the loop: status "interrupted"; a sweep stops as a whole
        _tell(f"redi: interrupted ({e}); run the same command again to resume", logging.WARNING)
        if multirun:
            raise
        sys.exit(1)
    except Exception as e:
        if multirun:
            return _failed(run_dir, e)
        if _disk_full(e):  # the newest intact checkpoint is kept (redi.infra.checkpoint): say how to go on
            print(f"redi: error: the disk is full ({e}); free space and run the same command again to resume "
                  "from the newest intact checkpoint", file=sys.stderr, flush=True)  # fmt: skip
            sys.exit(1)
        _to_run_log(logging.ERROR, f"redi: run failed:\n{traceback.format_exc().rstrip()}")  # Hydra prints it
        raise
    finally:
        if control is not None:
            control.stop()  # only when the run did not end normally: it was waited for otherwise
    return _report(result, cfg, control_summary, run_dir, printed=launch_rank() == 0)


def _report(result, cfg: DictConfig, control: list[str], run_dir: Path, printed: bool = True) -> dict:
    """Print the run's summary (on the console and in run.log) when ``printed``; the dict a sweep member returns."""
    if printed:
        summary = format_summary(result, cfg, control)
        print(summary, flush=True)
        _to_run_log(logging.INFO, summary)
    return {"state": result.state, "run_dir": str(run_dir), "reason": result.reason}


def _quiet_progress_bars() -> None:
    """Progress bars of transformers and datasets only on a terminal, so logs stay readable."""
    if not sys.stderr.isatty():
        import datasets
        import transformers

        transformers.utils.logging.disable_progress_bar()
        datasets.disable_progress_bars()


def _ended_earlier(cfg: DictConfig, run_dir: Path, multirun: bool) -> dict | None:
    """The summary of a run that already ended (and of its control, for a single run), said without importing
    torch, datasets or transformers; None when the run (or its control) has still to run or resume."""
    import os

    from redi.control import ended_control_lines
    from redi.infra.run_result import RunResult
    from redi.infra.status import Status
    from redi.sweeps.controls import wants_control

    status = Status(run_dir)
    if not status.finished or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return None
    control: list[str] = []
    if not multirun and wants_control(cfg):
        control = ended_control_lines(run_dir)
        if not control:
            return None
    log.info(
        "%s already ended %r at step %s: not running it again", run_dir, status.state, status.data.get("step")
    )
    return _report(RunResult.recorded(status, run_dir, skipped=True), cfg, control, run_dir)


def _start_control(cfg: DictConfig, hc, run_dir: Path):
    """The alpha = 0 control of a single preference run, started beside it (redi.control); None when not wanted."""
    import os

    from redi.sweeps.controls import wants_control

    if not wants_control(cfg):
        return None
    if (
        int(os.environ.get("WORLD_SIZE", "1")) > 1
    ):  # torchrun: one child per rank would train it several times
        log.warning("control=true: not started under torchrun; run its control as a sweep member or by hand")
        return None
    from redi.control import ControlProcess

    groups = [str(g) for g in hc.runtime.choices if "/" not in str(g)]
    control = ControlProcess.start(list(hc.overrides.task), Path(cfg.paths.runs_dir), groups, run_dir)
    log.info("control: objective=redi alpha=0.0 in %s (its log: %s)", control.run_dir, control.log_path)
    return control


def _control_summary(control, run_dir: Path) -> list[str]:
    """Wait for the control to end; the summary's lines about it (redi.control)."""
    from redi.control import control_lines

    code = control.wait()
    return control_lines(run_dir, control.run_dir, control.log_path, code)


def _unparsable_override(argv: list[str]) -> str | None:
    """One line for a command-line override that Hydra's grammar rejects (``alpha=0.2,,8``), else None.

    Hydra would print its parser's three-line report; this says the override and what the parser expected.
    """
    import re

    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    args, _ = get_args_parser().parse_known_args(argv)
    try:
        OverridesParser.create().parse_overrides(args.overrides)
    except OverrideParseException as e:
        said = [
            line
            for line in e.message.splitlines()
            if line.strip() and not line.startswith(("See ", "Error "))
        ]
        detail = re.sub(r" expecting \{.*\}", "", said[0] if said else "not a key=value override")
        return f"{e.override}: does not parse ({detail}; the grammar: hydra.cc/docs/advanced/override_grammar/basic)"
    return None


def _main_and_exit() -> None:
    """Run ``main`` and end the process; after torch.distributed was used, through ``exit_process`` (see there).

    redi.infra.distributed imports torch: it is looked up only when the run loaded it, so what ends before any
    compute (tab completion, --help, a rejected config) never pays for importing torch.
    """
    if {"--help", "-h"} & set(sys.argv[1:]):  # the same text as Hydra's help, without composing the config
        print(render_help(), flush=True)
        sys.exit(0)
    if not {"-sc", "--shell-completion"} & set(sys.argv[1:]) and (bad := _unparsable_override(sys.argv[1:])):
        print(f"redi: error: {bad}", file=sys.stderr, flush=True)
        sys.exit(2)
    code: int | str | None = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    distributed = sys.modules.get("redi.infra.distributed")
    if distributed is None:
        sys.exit(code)
    distributed.exit_process(code)


if __name__ == "__main__":
    _main_and_exit()
