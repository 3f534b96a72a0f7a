"""One explicit training loop (nanoGPT's shape): plan -> step -> clip -> optimizer -> log -> evaluate -> checkpoint.

The data order is a pure function of (seed, epoch) (redi.loop.plan) and everything the next step depends on is in
the TrainState (redi.loop.state), so a run resumed from step k ends with the same metrics as one that never
stopped. The step (redi.loop.step) normalises by the global batch, so accumulation and data parallelism compute
the gradient of one big batch. A non-finite loss ends the run as ``diverged``, the collapse rule as ``collapsed``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from redi.config import TrainerConfig
from redi.eval.metrics import curve_accuracy
from redi.infra.distributed import barrier, broadcast_flag, unsharded_copy
from redi.infra.progress import Progress, on_terminal
from redi.infra.session import Session
from redi.loop.collapse import CollapseDetector
from redi.loop.optim import build_optimizer, clip_gradients
from redi.loop.plan import BatchPlan
from redi.loop.precision import describe as describe_numerics
from redi.loop.preemption import Interrupted, PreemptionGuard
from redi.loop.state import TrainState
from redi.loop.stats import NUM_STATS, StepStats
from redi.loop.step import LoopInputs, Step
from redi.loop.update_norm import adamw_update_norm

log = logging.getLogger(__name__)
__all__ = ["EvalSchedule", "LoopInputs", "TrainOutcome", "train"]

Evaluator = Callable[[torch.nn.Module, int, bool], dict[str, float]]  # (model, step, final) -> eval/* metrics


@dataclass(frozen=True)
class EvalSchedule:
    """When the loop evaluates: at step 0, every ``every`` steps (0 = never), at the end."""

    evaluate: Evaluator | None = None
    every: int = 0
    at_start: bool = False
    at_end: bool = False


@dataclass
class TrainOutcome:
    state: str  # completed | collapsed | diverged
    step: int
    reason: str = ""
    eval_metrics: dict[str, float] = field(default_factory=dict)
    start_metrics: dict[str, float] = field(default_factory=dict)  # the evaluation at step 0


def train(inputs: LoopInputs, cfg: TrainerConfig, session: Session, evals: EvalSchedule) -> TrainOutcome:
    """Run (or resume) the loop to the end; returns how it ended."""
    env, status, tracker, plan = session.env, session.status, session.tracker, inputs.plan
    total = plan.total_steps
    unwrapped = getattr(inputs.model, "module", inputs.model)
    optimizer, scheduler = build_optimizer(unwrapped, cfg, inputs.lr, total)
    if env.is_main:
        log.info(describe_numerics(unwrapped, cfg.precision))
    state = TrainState(inputs.model, optimizer, scheduler, CollapseDetector(cfg.collapse))
    checkpoints = session.run_dir / "checkpoints"
    _begin(state, inputs.seed, total, checkpoints, session, evals)
    inputs.model.train()
    step = Step(inputs, cfg, env)
    progress = Progress(
        total,
        "train",
        initial=state.step,
        unit="steps",
        enabled=env.is_main,
        bar=cfg.progress_bar and on_terminal(),
    )
    guard = PreemptionGuard()
    ended, reason = "completed", ""
    while state.step < total:
        if broadcast_flag(guard.requested, env):
            _preempt(state, cfg, session, guard, checkpoints)
        stats, metrics = _train_step(state, step, plan, cfg)
        if not (math.isfinite(stats.loss) and math.isfinite(metrics["train/grad_norm"])):
            ended, reason = "diverged", _divergence(state.step, stats.loss, metrics["train/grad_norm"])
            keys = ("train/loss", "train/grad_norm", "train/lr")
            tracker.log({k: metrics[k] for k in keys}, step=state.step)
            break
        if state.step % cfg.log_every == 0 or state.step == total:
            tracker.log(metrics, step=state.step)
        progress.update(1, tokens=float(stats.tokens), loss=stats.loss)
        fired = state.detector.observe_step(
            state.step, metrics["train/logps_chosen_per_token"], metrics.get("train/logps_rejected_per_token")
        )
        if evals.every > 0 and state.step % evals.every == 0 and state.step < total:
            fired = _evaluate(state, evals, session) or fired
        if fired:
            status.update(**state.detector.summary())
            tracker.summary(state.detector.summary())
            log.warning(state.detector.reason)
            if cfg.collapse.stop:
                ended, reason = "collapsed", state.detector.reason
                break
        if state.step % cfg.save_every == 0 and state.step < total:
            state.save(checkpoints, cfg.keep_checkpoints, env.is_main)
            status.update(step=state.step)
            barrier(env)
    progress.close()
    guard.restore()
    return _finish(state, evals, session, ended, reason)


def _finish(
    state: TrainState, evals: EvalSchedule, session: Session, ended: str, reason: str
) -> TrainOutcome:
    """The final evaluation (unless it just ran or the run diverged) and the collapse rule's verdict."""
    if (
        ended != "diverged"
        and evals.at_end
        and evals.evaluate is not None
        and state.last_eval_step != state.step
    ):
        _evaluate(state, evals, session, final=True)
    if ended == "completed" and state.detector.collapsed_at is not None:
        ended, reason = "collapsed", state.detector.reason
    session.status.update(**state.detector.summary())  # the rule's verdict and how close it came
    session.tracker.summary(state.detector.summary())
    return TrainOutcome(ended, state.step, reason, state.eval_metrics, state.start_metrics)


def _begin(
    state: TrainState, seed: int, total: int, checkpoints: Path, session: Session, evals: EvalSchedule
) -> None:
    """Resume from the newest checkpoint (or seed a fresh run), mark the run running, evaluate step 0."""
    resumed = state.resume(checkpoints, total)
    if resumed:
        session.tracker.truncate_after(state.step)  # what was logged after the checkpoint is logged again
    else:
        torch.manual_seed(seed)
    resumed_from = state.step if resumed else None
    session.status.update(state="running", step=state.step, total_steps=total, resumed_from_step=resumed_from)
    if state.step == 0 and evals.at_start and evals.evaluate is not None:
        _evaluate(state, evals, session)
        state.start_metrics = dict(state.eval_metrics)


def _train_step(
    state: TrainState, step: Step, plan: BatchPlan, cfg: TrainerConfig
) -> tuple[StepStats, dict[str, float]]:
    """One optimizer step: forward/backward, clip, AdamW, schedule; the step's metrics read in one host sync.

    A non-finite loss or gradient norm ends the run (the caller stops before logging or saving anything else), so
    the optimizer step is not held back for the check: the sums, the gradient norm and the update norm are read
    together after it.
    """
    t0 = time.perf_counter()
    sums = step(plan.batch(state.step))
    lr = state.scheduler.get_last_lr()[0]
    grad_norm = clip_gradients(step.params, cfg.max_grad_norm)
    state.optimizer.step()
    update = adamw_update_norm(state.optimizer) if cfg.track_update_norm else None
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    state.step += 1
    norms = [_full(grad_norm)] + ([_full(update)] if update is not None else [])
    values = torch.cat([sums, *(n.reshape(1).to(sums) for n in norms)]).tolist()  # the one host sync
    stats = StepStats.from_sums(values)
    metrics = {
        **stats.metrics(step.objective.needs_pairs),
        "train/lr": lr,
        "train/grad_norm": values[NUM_STATS],
        "train/epoch": state.step / plan.steps_per_epoch,
        **({"train/update_norm": values[NUM_STATS + 1]} if update is not None else {}),
        "train/tokens_per_s": stats.tokens / max(time.perf_counter() - t0, 1e-9),
    }
    return stats, metrics


def _full(value: torch.Tensor) -> torch.Tensor:
    """A plain tensor: FSDP2's norms are DTensors (a collective on every rank makes them whole)."""
    from torch.distributed.tensor import DTensor

    return value.full_tensor() if isinstance(value, DTensor) else value


def _evaluate(state: TrainState, evals: EvalSchedule, session: Session, final: bool = False) -> bool:
    """Evaluate on rank 0 and log it (``final``: the end of the run); True (on every rank) when the rule fired."""
    env = session.env
    state.last_eval_step = state.step
    fired = False
    # a sharded model is gathered (by every rank) into a plain copy that rank 0 evaluates
    unwrapped = getattr(state.model, "module", state.model)
    eval_model = unsharded_copy(unwrapped, env.device) if evals.evaluate is not None else None
    if env.is_main and evals.evaluate is not None:
        state.eval_metrics = evals.evaluate(eval_model, state.step, final)
        session.tracker.log(state.eval_metrics, step=state.step)
        accuracy = curve_accuracy(state.eval_metrics)  # the same problems at every point (redi.eval.metrics)
        if accuracy is not None:
            fired = state.detector.observe_eval(state.step, accuracy)
    barrier(env)
    return broadcast_flag(fired, env)


def _preempt(
    state: TrainState, cfg: TrainerConfig, session: Session, guard: PreemptionGuard, checkpoints
) -> None:
    """Checkpoint at this step boundary, hand the signal to the launcher (submitit requeues), and stop."""
    state.save(checkpoints, cfg.keep_checkpoints, session.env.is_main)
    message = f"preempted at step {state.step}; checkpoint saved"
    session.status.update(state="interrupted", step=state.step, reason=message)
    log.warning("preemption signal: checkpoint saved at step %d, handing over to the launcher", state.step)
    guard.hand_over()  # submitit requeues the job and exits
    raise Interrupted(message)


def _divergence(step: int, loss: float, grad_norm: float) -> str:
    what = "loss" if not math.isfinite(loss) else "gradient norm"
    return f"non-finite {what} at step {step} (loss={loss}, grad_norm={grad_norm})"
