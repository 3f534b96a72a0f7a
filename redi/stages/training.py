"""The training stage (SFT or a preference objective): inputs -> [reference] -> loop -> saved model -> status.

Reads top to bottom: the starting model and tokenizer, the training rows, the reference log-probs when the
objective needs them, the evaluator, the W&B run, the loop, then the final weights and how the run ended.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from redi.data.errors import DataError
from redi.eval.evaluator import make_evaluator
from redi.infra.cache import cache_dir
from redi.infra.distributed import DistEnv, broadcast_module, full_state_dict, is_sharded
from redi.infra.run_result import RunResult
from redi.infra.session import Session
from redi.infra.wandb_names import wandb_settings
from redi.inputs.model import starting_point
from redi.inputs.rows import training_rows
from redi.loop.plan import Batching, BatchPlan
from redi.loop.precision import fsdp_mixed_precision
from redi.loop.train import EvalSchedule, LoopInputs, train
from redi.model.kernels import apply_kernels
from redi.model.load import save_model
from redi.objectives import ObjectiveSpec

log = logging.getLogger(__name__)


def run(
    cfg: DictConfig, spec: ObjectiveSpec, hyper: dict[str, float], session: Session, stage1: Path | None
) -> RunResult:
    """Train ``spec`` in the session's run directory (resuming from its checkpoint) and evaluate the result."""
    env, run_dir = session.env, session.run_dir
    model, tokenizer, source = starting_point(cfg, spec, run_dir, env, stage1)
    model = apply_kernels(model, cfg, env.device)
    rows = training_rows(cfg, spec, tokenizer, env, stage1)
    plan = batch_plan(rows.group_lengths, cfg, env)  # pairs: the longer of the two, which both pad to
    if not plan.has_full_batch and env.is_main:
        session.status.warn(partial_batch_note(len(rows), cfg, env))
    reference = None
    if spec.needs_reference:
        from redi.inputs.reference import cached_reference_logps

        if source is None:
            raise ValueError(f"objective {spec.name!r} needs a reference model; set model.init_from")
        reference = cached_reference_logps(
            model,
            source,
            rows,
            tokenizer.pad_token_id,
            cfg.trainer.micro_batch_size,
            cache_dir(cfg),
            env,
            cfg.trainer.precision,
        )
    evals = EvalSchedule(
        make_evaluator(cfg, tokenizer, run_dir),
        every=cfg.eval.every_n_steps,
        at_start=cfg.eval.at_start and spec.needs_pairs,
        at_end=cfg.eval.at_end,
    )
    if stage1 is not None and env.is_main:
        session.status.update(stage1_dir=str(stage1))  # redi sync follows it to stage 1's W&B run
    if env.is_main:
        from redi.loop.checks import collapse_rule_notes

        # what the collapse rule cannot see: the pre-flight said it, status.json keeps it
        for note in collapse_rule_notes(cfg, spec.needs_pairs):
            session.status.warn(note)
    session.start_wandb(cfg.logger, **wandb_settings(cfg, spec, run_dir))
    policy = wrap_distributed(model, cfg, env)
    inputs = LoopInputs(policy, rows, plan, spec, hyper, reference, tokenizer.pad_token_id, cfg.lr, cfg.seed)
    outcome = train(inputs, cfg.trainer, session, evals)
    if outcome.state != "diverged":
        # a sharded model's full weights are gathered (by every rank) for rank 0 to save
        weights = full_state_dict(policy) if is_sharded(policy) else None
        if env.is_main:
            save_model(model, tokenizer, run_dir / "model", state_dict=weights)  # merged when LoRA
            from redi.model.lora import is_peft, save_adapter

            if is_peft(model):
                save_adapter(model, tokenizer, run_dir / "adapter")
            session.tracker.log_model(run_dir / "model", f"model-{run_dir.name}", cfg.logger.log_model)
    else:
        log.warning("run diverged: %s", outcome.reason)
    if env.is_main:  # the gain over the starting model on the same problems, with its paired SE
        from redi.eval.paired import gain_metrics

        outcome.eval_metrics = {**outcome.eval_metrics, **gain_metrics(run_dir, outcome.step)}
    session.tracker.summary({"state": outcome.state, "final_step": outcome.step, **outcome.eval_metrics})
    session.end(
        outcome.state,
        step=outcome.step,
        reason=outcome.reason,
        final_metrics=outcome.eval_metrics,
        start_metrics=outcome.start_metrics,
        data_funnel=rows.funnel,
    )
    return RunResult(
        run_dir,
        outcome.state,
        outcome.step,
        outcome.reason,
        outcome.start_metrics,
        outcome.eval_metrics,
        session.status.data.get("wandb"),
    )


def typed_key(cfg: DictConfig, dotted: str) -> str:
    """The key the user sets for ``dotted``: the one it interpolates (``trainer.micro_batch_size`` is
    ``${stage1.micro_batch_size}`` in stage 1 and objective=sft runs, conf/objective/sft.yaml), else itself."""
    node = OmegaConf.to_container(cfg, resolve=False)
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    match = re.fullmatch(r"\$\{([\w.]+)\}", node) if isinstance(node, str) else None
    return match.group(1) if match else dotted


def batch_terms(cfg: DictConfig, env: DistEnv) -> str:
    """The global batch as the user typed it, e.g. ``stage1.micro_batch_size=32 x stage1.grad_accum_steps=1 x
    world size 1``."""
    t = cfg.trainer
    micro, accum = typed_key(cfg, "trainer.micro_batch_size"), typed_key(cfg, "trainer.grad_accum_steps")
    return f"{micro}={t.micro_batch_size} x {accum}={t.grad_accum_steps} x world size {env.world_size}"


def batch_plan(lengths: list[int], cfg: DictConfig, env: DistEnv) -> BatchPlan:
    """The run's batch plan; a DataError naming the keys as typed when the rows cannot fill a step's micro-batches.

    Rows fewer than the global batch train as one smaller batch per epoch (redi.loop.plan.BatchPlan); every
    micro-batch of every process still needs a row, since each process runs the same forwards (FSDP gathers the
    weights at every forward).
    """
    t = cfg.trainer
    plan = BatchPlan(
        lengths=lengths,
        global_batch=t.micro_batch_size * t.grad_accum_steps * env.world_size,
        seed=cfg.seed,
        batching=Batching(cfg.data.batching, cfg.data.group_window, cfg.data.max_tokens_per_batch),
        epochs=t.epochs,
        max_steps=t.max_steps,
    )
    micro_batches = t.grad_accum_steps * env.world_size
    if len(lengths) < micro_batches or plan.steps_per_epoch == 0:
        accum = typed_key(cfg, "trainer.grad_accum_steps")
        raise DataError(
            f"{len(lengths)} training rows cannot fill the {micro_batches} micro-batches of a step "
            f"({accum}={t.grad_accum_steps} x world size {env.world_size}): lower {accum} or add data"
        )
    return plan


def partial_batch_note(rows: int, cfg: DictConfig, env: DistEnv) -> str:
    """What a run whose rows make no full global batch trains on (status.json keeps it, the log says it)."""
    note = (
        f"{rows} training rows are fewer than the global batch ({batch_terms(cfg, env)}): "
        f"each epoch is one step of all {rows} rows"
    )
    log.warning(note)
    return note


def wrap_distributed(model: torch.nn.Module, cfg: DictConfig, env: DistEnv) -> torch.nn.Module:
    """Replicated weights for models that fit one device, FSDP2 (fully_shard) when trainer.distributed=fsdp.

    ``ddp``: every rank keeps the whole model, rank 0's weights broadcast once (as DDP's constructor does); the step
    sums the gradients over ranks after the last micro-batch (redi.loop.step). No DDP wrapper: a micro-batch may
    take several forwards before its one backward, which DDP's reducer does not allow, so redi never used its
    reducer, whose buckets still held a second copy of the gradients (4 bytes per fp32 parameter).
    Under ``trainer.precision=bf16`` FSDP2 keeps the fp32 shards (and AdamW's moments) and gathers each layer in
    bf16 for compute, reducing gradients in fp32 (redi.loop.precision); replicated fp32 weights compute under the
    step's bf16 autocast.
    """
    if not env.enabled:
        return model
    if cfg.trainer.distributed == "fsdp":
        from torch.distributed.fsdp import fully_shard

        policy = fsdp_mixed_precision(cfg.trainer.precision, model)
        kwargs = {"mp_policy": policy} if policy is not None else {}
        for layer in model.model.layers:
            fully_shard(layer, **kwargs)
        fully_shard(model, **kwargs)
        return model
    broadcast_module(model, env)
    return model
