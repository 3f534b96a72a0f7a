"""One explicit training loop: AdamW, warmup then linear decay, accumulation, clipping, checkpoints, exact resume.

The data order is a pure function of (seed, epoch), and every piece of state that influences the next step
(weights, optimizer, scheduler, RNG, collapse detector) is in the checkpoint, so a run resumed from step k ends
with the same metrics as one that never stopped. The loss of a step is normalised by the global batch (all
micro-batches, all ranks), so accumulation and data parallelism compute the same gradient as one big batch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import get_scheduler

from redi.config import TrainerConfig
from redi.data.batching import make_batches, padding_fraction
from redi.data.tokenize import EncodedRows, collate_rows
from redi.infra.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from redi.infra.distributed import (
    DistEnv,
    all_reduce_sum,
    barrier,
    broadcast_flag,
    is_sharded,
    squared_sum,
    unsharded_copy,
)
from redi.infra.status import Status
from redi.infra.tracking import Tracker
from redi.loop.collapse import CollapseDetector
from redi.loop.logprobs import policy_logps
from redi.objectives.base import ObjectiveSpec, SequenceLogps

log = logging.getLogger(__name__)

Evaluator = Callable[[torch.nn.Module, int], dict[str, float]]


@dataclass
class TrainOutcome:
    state: str  # completed | collapsed | diverged
    step: int
    reason: str = ""
    eval_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class BatchPlan:
    """Which rows make up each optimizer step: a deterministic function of (seed, epoch)."""

    lengths: list[int]
    global_batch: int
    seed: int
    mode: str
    window: int
    max_tokens: int | None
    epochs: float
    max_steps: int
    _cache: dict[int, list[list[int]]] = field(default_factory=dict)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            if len(self._cache) >= 2:  # keep epoch 0 (its length sets the schedule) and the current epoch
                self._cache = {k: v for k, v in self._cache.items() if k == 0}
            self._cache[epoch] = make_batches(
                self.lengths,
                self.global_batch,
                seed=self.seed,
                epoch=epoch,
                mode=self.mode,
                window=self.window,
                max_tokens=self.max_tokens,
                drop_last=self.mode != "token_budget",
            )
        return self._cache[epoch]

    @property
    def steps_per_epoch(self) -> int:
        return len(self.epoch_batches(0))

    @property
    def total_steps(self) -> int:
        total = math.ceil(self.epochs * self.steps_per_epoch)
        return min(total, self.max_steps) if self.max_steps > 0 else total

    def batch(self, step: int) -> list[int]:
        """Row indices of optimizer step ``step`` (0-based)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        batches = self.epoch_batches(epoch)
        return batches[index % len(batches)]


def split_micro_batches(indices: list[int], parts: int) -> list[list[int]]:
    """Split a global batch into ``parts`` contiguous micro-batches of near-equal size (never empty if possible)."""
    n = len(indices)
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [indices[bounds[i] : bounds[i + 1]] for i in range(parts)]


def build_optimizer(model: torch.nn.Module, cfg: TrainerConfig, lr: float, total_steps: int):
    """AdamW (no decay on biases and norms) and the warmup-then-decay schedule."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
    )
    warmup = math.ceil(cfg.warmup_ratio * total_steps)
    scheduler = get_scheduler(
        cfg.scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps
    )
    return optimizer, scheduler


class Interrupted(Exception):
    """The process received a termination signal; the run was checkpointed and can resume."""


class PreemptionGuard:
    """Defer SLURM's pre-timeout/preemption signal (SIGUSR2, submitit's) to the next step boundary.

    The loop saves a checkpoint there, then calls the handler that was installed before (submitit's, which
    requeues the job and exits), so a requeued run resumes at the exact step it was stopped.
    """

    def __init__(self) -> None:
        self.requested = False
        self._signal: tuple[int, Any] | None = None
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGUSR2, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        self._signal = (signum, frame)

    def hand_over(self) -> None:
        self.restore()
        if callable(self._previous) and self._signal is not None:
            self._previous(*self._signal)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGUSR2, self._previous)
            self._previous = None if not callable(self._previous) else self._previous


@dataclass
class LoopInputs:
    model: torch.nn.Module  # possibly DDP-wrapped
    rows: EncodedRows
    objective: ObjectiveSpec
    hyperparameters: dict[str, float]
    reference: torch.Tensor | None  # (N, 2) summed reference log-probs of (chosen, rejected), or None
    pad_id: int
    lr: float
    seed: int


def _reference_logps(reference: torch.Tensor, rows: EncodedRows, indices: list[int], device) -> SequenceLogps:
    ref = reference[indices].to(device)
    lengths = torch.tensor(
        [[rows.chosen[i].response_length, rows.rejected[i].response_length] for i in indices], device=device
    )
    return SequenceLogps(ref[:, 0], lengths[:, 0], ref[:, 1], lengths[:, 1])


def _global_weight(objective: ObjectiveSpec, rows: EncodedRows, indices: list[int]) -> float:
    if objective.weight_unit == "tokens":
        return float(sum(rows.chosen[i].response_length for i in indices))
    return float(len(indices))


def train(
    inputs: LoopInputs,
    cfg: TrainerConfig,
    *,
    run_dir: Path,
    env: DistEnv,
    tracker: Tracker,
    status: Status,
    evaluate: Evaluator | None,
    eval_every: int,
    eval_at_start: bool,
    eval_at_end: bool,
    batching: dict[str, Any],
) -> TrainOutcome:
    """Run (or resume) the loop to the end; returns how it ended. Non-finite loss and collapse end it cleanly."""
    model, rows, objective = inputs.model, inputs.rows, inputs.objective
    unwrapped = getattr(model, "module", model)
    parts = cfg.grad_accum_steps * env.world_size
    plan = BatchPlan(
        lengths=rows.lengths,
        global_batch=cfg.micro_batch_size * parts,
        seed=inputs.seed,
        mode=batching["mode"],
        window=batching["window"],
        max_tokens=batching.get("max_tokens"),
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
    )
    if plan.steps_per_epoch == 0:
        raise ValueError(
            f"{len(rows)} training rows make no full global batch of {plan.global_batch} "
            f"(trainer.micro_batch_size={cfg.micro_batch_size} x grad_accum_steps={cfg.grad_accum_steps} x "
            f"world size {env.world_size}): lower the batch size or add data"
        )
    total_steps = plan.total_steps
    optimizer, scheduler = build_optimizer(unwrapped, cfg, inputs.lr, total_steps)
    detector = CollapseDetector(cfg.collapse)
    ckpt_dir = run_dir / "checkpoints"
    step = 0
    eval_metrics: dict[str, float] = {}
    last_eval_step = -1

    resume_from = latest_checkpoint(ckpt_dir)
    if resume_from is not None:
        loop = load_checkpoint(resume_from, model, optimizer, scheduler)
        step = loop["step"]
        detector.load_state_dict(loop["collapse"])
        eval_metrics = loop.get("eval_metrics", {})
        if env.is_main:
            tracker.metrics.truncate_after(step)
        log.info("resumed from %s at step %d of %d", resume_from, step, total_steps)
    else:
        torch.manual_seed(inputs.seed)
    if env.is_main:
        status.update(
            state="running",
            step=step,
            total_steps=total_steps,
            resumed_from_step=step if resume_from else None,
        )

    def run_eval(at_step: int) -> bool:
        """Evaluate on rank 0; True when the collapse rule fired."""
        nonlocal eval_metrics, last_eval_step
        last_eval_step = at_step
        fired = False
        # a sharded model is gathered (by every rank) into a plain copy that rank 0 evaluates
        eval_model = unsharded_copy(unwrapped, env.device) if evaluate is not None else None
        if env.is_main and evaluate is not None:
            eval_metrics = evaluate(eval_model, at_step)
            tracker.log(eval_metrics, step=at_step)
            accs = [v for k, v in eval_metrics.items() if k.endswith("/pass@1")]
            if accs:
                fired = detector.observe_eval(at_step, sum(accs) / len(accs))
        barrier(env)
        return broadcast_flag(fired, env)

    if step == 0 and eval_at_start and evaluate is not None:
        run_eval(0)

    model.train()
    params = [p for p in unwrapped.parameters() if p.requires_grad]
    is_ddp = hasattr(model, "no_sync")
    sharded = is_sharded(model)  # FSDP2: every rank saves its shards of a checkpoint
    autocast = (
        torch.autocast(device_type=env.device.type, dtype=torch.bfloat16)
        if cfg.precision == "bf16"
        else contextlib.nullcontext()
    )
    progress = _progress_bar(total_steps, step, enabled=cfg.progress_bar and env.is_main)
    outcome_state, reason = "completed", ""
    guard = PreemptionGuard()

    def save(at_step: int) -> None:
        """Checkpoint on rank 0 (every rank writes its shards when the model is sharded)."""
        if env.is_main or sharded:
            state = _loop_state(detector, eval_metrics)
            save_checkpoint(ckpt_dir, at_step, model, optimizer, scheduler, state, cfg.keep_checkpoints)

    while step < total_steps:
        if broadcast_flag(guard.requested, env):
            save(step)
            if env.is_main:
                status.update(
                    state="interrupted", step=step, reason=f"preempted at step {step}; checkpoint saved"
                )
            log.warning("preemption signal: checkpoint saved at step %d, handing over to the launcher", step)
            guard.hand_over()  # submitit requeues the job and exits
            raise Interrupted(f"preempted at step {step}; checkpoint saved")
        t0 = time.perf_counter()
        global_indices = plan.batch(step)
        chunks = split_micro_batches(global_indices, parts)[env.rank :: env.world_size]
        weight = _global_weight(objective, rows, global_indices)
        sums = torch.zeros(7, dtype=torch.float64)  # loss, chosen, rejected, margin, acc, n, tokens
        for j, chunk in enumerate(chunks):
            if not chunk:
                continue
            batch = collate_rows(rows, chunk, inputs.pad_id).to(env.device)
            sync = contextlib.nullcontext() if (not is_ddp or j == len(chunks) - 1) else model.no_sync()
            with sync:
                with autocast:
                    policy = policy_logps(model, batch)
                reference = (
                    _reference_logps(inputs.reference, rows, chunk, env.device)
                    if objective.needs_reference
                    else None
                )
                out = objective(policy, reference, **inputs.hyperparameters)
                micro_loss = out.losses.sum() / weight
                (micro_loss * env.world_size).backward()
            with torch.no_grad():
                sums[0] += float(micro_loss)
                sums[1] += float(policy.chosen_mean.sum())
                if policy.rejected_logps is not None:
                    sums[2] += float(policy.rejected_mean.sum())
                if out.rewards_chosen is not None:
                    sums[3] += float((out.rewards_chosen - out.rewards_rejected).sum())
                    sums[4] += float((out.rewards_chosen > out.rewards_rejected).float().sum())
                sums[5] += len(chunk)
                sums[6] += batch.num_tokens
        sums = all_reduce_sum(sums, env)
        loss, n = float(sums[0]), max(float(sums[5]), 1.0)
        lr_now = scheduler.get_last_lr()[0]
        grad_norm = _clip(params, cfg.max_grad_norm)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            outcome_state = "diverged"
            reason = f"non-finite {'loss' if not math.isfinite(loss) else 'gradient norm'} at step {step + 1} (loss={loss}, grad_norm={grad_norm})"
            optimizer.zero_grad(set_to_none=True)
            tracker.log({"train/loss": loss, "train/grad_norm": grad_norm, "train/lr": lr_now}, step=step + 1)
            step += 1
            break
        before = [p.detach().clone() for p in params] if cfg.track_update_norm else None
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        metrics: dict[str, float] = {
            "train/loss": loss,
            "train/lr": lr_now,
            "train/grad_norm": grad_norm,
            "train/logps_chosen": float(sums[1]) / n,
            "train/epoch": step / plan.steps_per_epoch,
            "train/padding_frac": padding_fraction([global_indices], rows.lengths),
        }
        if before is not None:
            metrics["train/update_norm"] = math.sqrt(
                sum(squared_sum(p.detach() - b) for p, b in zip(params, before, strict=True))
            )
        if objective.needs_pairs:
            metrics["train/logps_rejected"] = float(sums[2]) / n
            metrics["train/margin"] = float(sums[3]) / n
            metrics["train/reward_accuracy"] = float(sums[4]) / n
        metrics["train/tokens_per_s"] = float(sums[6]) / max(time.perf_counter() - t0, 1e-9)
        if step % cfg.log_every == 0 or step == total_steps:
            tracker.log(metrics, step=step)
        progress.update(1)
        progress.set_postfix(loss=f"{loss:.4f}", refresh=False)
        fired = detector.observe_step(
            step, metrics["train/logps_chosen"], metrics.get("train/logps_rejected")
        )
        if eval_every > 0 and step % eval_every == 0 and step < total_steps:
            fired = run_eval(step) or fired
        if fired and env.is_main:
            status.update(**detector.summary())
            tracker.summary(detector.summary())
            log.warning(detector.reason)
            if cfg.collapse.stop:
                outcome_state, reason = "collapsed", detector.reason
                break
        if step % cfg.save_every == 0 and step < total_steps:
            save(step)
            if env.is_main:
                status.update(step=step)
            barrier(env)
    progress.close()
    guard.restore()
    if outcome_state != "diverged" and eval_at_end and evaluate is not None and last_eval_step != step:
        run_eval(step)
    if outcome_state == "completed" and detector.collapsed_at is not None:
        outcome_state, reason = "collapsed", detector.reason
    if env.is_main:  # the rule's verdict and how close it came, for every run (redi.loop.collapse)
        status.update(**detector.summary())
        tracker.summary(detector.summary())
    return TrainOutcome(outcome_state, step, reason, eval_metrics)


def _loop_state(detector: CollapseDetector, eval_metrics: dict[str, float]) -> dict[str, Any]:
    return {"collapse": detector.state_dict(), "eval_metrics": dict(eval_metrics)}


def _clip(params: list[torch.nn.Parameter], max_norm: float) -> float:
    """Total gradient norm before clipping (clipping only when max_norm > 0)."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in grads])))


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **_: Any) -> None: ...
    def close(self) -> None: ...


def _progress_bar(total: int, initial: int, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True)
