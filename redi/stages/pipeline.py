"""One run, start to end: validate -> starting model -> data -> [reference] -> train -> evaluate -> save.

Also builds the cached stage-1 model a preference run starts from (``model.init_from=stage1``): the stage-1
build is itself a run of this pipeline with the SFT objective, in a cache directory keyed by what determines it,
under a file lock so sweep members that need it at the same moment wait for one build.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from redi.config import Config, SFTObjectiveConfig
from redi.data.builder import source_fingerprint
from redi.data.tokenize import Encoder, TokenizationSettings, encode_rows
from redi.infra.cache import content_key, exclusive
from redi.infra.distributed import (
    DistEnv,
    barrier,
    broadcast_flag,
    full_state_dict,
    is_sharded,
    setup,
    teardown,
)
from redi.infra.status import Status
from redi.infra.tracking import Tracker, resolve_wandb_mode
from redi.loop.train import Interrupted, LoopInputs, train
from redi.model import (
    ModelSource,
    build_tiny_model,
    load_model,
    load_tokenizer,
    resolve_source,
    save_model,
    tokenizer_fingerprint,
    train_tokenizer,
)
from redi.objectives import ObjectiveSpec
from redi.validate import to_container, validate

log = logging.getLogger(__name__)
STAGE1_VERSION = 2  # 2: the synthetic teacher writes column work


@dataclass
class RunResult:
    run_dir: Path
    state: str
    step: int = 0
    reason: str = ""
    start_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    wandb: str | None = None
    seconds: float = 0.0
    skipped: bool = False


def cache_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.cache_dir).expanduser().resolve()


# ---------------------------------------------------------------------------------------------------------------
# stage 1


def stage1_config(cfg: DictConfig) -> DictConfig:
    """The SFT run that builds the stage-1 model for ``cfg``: same model and data, the ``stage1`` block's training."""
    s1 = OmegaConf.merge(OmegaConf.structured(Config), to_container(cfg))
    with open_dict(s1):
        s1.objective = OmegaConf.structured(SFTObjectiveConfig())
        s1.alpha = s1.beta = s1.gamma = None
        s1.lr = cfg.stage1.lr
        s1.seed = cfg.stage1.seed
        s1.mode = "train"
        t = s1.trainer
        t.epochs = cfg.stage1.epochs
        t.max_steps = -1
        t.micro_batch_size = cfg.stage1.micro_batch_size
        t.grad_accum_steps = cfg.stage1.grad_accum_steps
        t.warmup_ratio = cfg.stage1.warmup_ratio
        t.weight_decay = cfg.stage1.weight_decay
        t.scheduler = cfg.stage1.scheduler
        t.adam_beta2 = cfg.stage1.adam_beta2
        t.collapse.enabled = False
        s1.eval.every_n_steps = 0
        s1.eval.at_start = False
        s1.eval.at_end = False
        s1.logger.name = None
        s1.experiment.name = "stage1"
    return s1


def stage1_dir(cfg: DictConfig, world_size: int = 1) -> Path:
    """Where the stage-1 model for ``cfg`` lives: keyed by model, data, the stage-1 block and the code version.

    The batch enters as the global batch (micro batch x accumulation x processes): how it is split does not change
    the training (the loss is normalised over the global batch), so 2 processes x 16 reuse 1 process x 32.
    """
    model = to_container(cfg.model)
    model.pop("init_from", None)
    stage1 = to_container(cfg.stage1)
    stage1["global_batch"] = stage1.pop("micro_batch_size") * stage1.pop("grad_accum_steps") * world_size
    key = content_key(
        STAGE1_VERSION,
        model,
        to_container(cfg.data),
        source_fingerprint(cfg.data),  # the teacher's code or the data file's hash: new traces, new stage 1
        stage1,
        cfg.trainer.precision,
    )
    return cache_dir(cfg) / "stage1" / key


def ensure_stage1(cfg: DictConfig, env: DistEnv) -> Path:
    """Return the stage-1 run directory for ``cfg``, training it first if no completed one is cached."""
    directory = stage1_dir(cfg, env.world_size)
    with contextlib.ExitStack() as stack:
        if env.is_main:
            stack.enter_context(
                exclusive(directory.with_suffix(".lock"), f"the stage-1 model {directory.name}")
            )
        if broadcast_flag(env.is_main and not Status(directory).finished, env):
            log.info("stage 1: training the SFT model in %s", directory)
            directory.mkdir(parents=True, exist_ok=True)
            s1 = stage1_config(cfg)
            if env.is_main:
                (directory / "config.yaml").write_text(OmegaConf.to_yaml(s1))
            result = run(s1, directory, env=env)
            if result.state != "completed":
                raise RuntimeError(f"stage 1 ended {result.state!r} ({result.reason}); see {directory}")
        elif env.is_main:
            log.info("stage 1: reusing the cached SFT model in %s", directory)
        barrier(env)
    return directory


# ---------------------------------------------------------------------------------------------------------------
# model, data


def starting_point(cfg: DictConfig, spec: ObjectiveSpec, run_dir: Path, env: DistEnv):
    """(model, tokenizer, source) the run starts from; source is None for a model built from scratch."""
    wants_stage1 = spec.needs_pairs or cfg.mode == "eval"
    if wants_stage1:
        if cfg.model.init_from == "stage1":
            source = ModelSource("dir", str(ensure_stage1(cfg, env) / "model"))
        else:
            source = resolve_source(cfg.model.init_from, "model.init_from")
    elif cfg.model.base is not None:
        source = resolve_source(cfg.model.base, "model.base")
    else:
        tokenizer = tiny_tokenizer(cfg, run_dir, env)
        return build_tiny_model(cfg.model.arch, tokenizer, seed=cfg.seed).to(env.device), tokenizer, None
    log.info("loading %s", source)
    tokenizer = load_tokenizer(source, cfg.model)
    return load_model(source, cfg.model, env.device), tokenizer, source


def tiny_tokenizer(cfg: DictConfig, run_dir: Path, env: DistEnv):
    """Train the byte-level BPE tokenizer on the teacher's problems and traces (kept in the run for resume).

    Rank 0 trains and saves it; the other ranks load rank 0's, so every rank tokenises the same way.
    """
    from transformers import AutoTokenizer

    from redi.data.openr1 import load_traces

    saved = run_dir / "tokenizer"
    if env.enabled and not env.is_main:
        barrier(env)  # rank 0 saves it first
        return AutoTokenizer.from_pretrained(saved)
    if (saved / "tokenizer.json").exists():
        barrier(env)
        return AutoTokenizer.from_pretrained(saved)
    traces = load_traces(cfg.data)
    texts = (text for row in traces for text in [row["problem"], *row["generations"]])
    tokenizer = train_tokenizer(texts, cfg.model.arch.vocab_size, cfg.model.chat_template)
    tokenizer.save_pretrained(saved)
    log.info("trained a %d-token BPE tokenizer on %d problems", len(tokenizer), len(traces))
    barrier(env)
    return tokenizer


def contamination_texts(cfg: DictConfig) -> list[str] | None:
    """Problems of the configured evaluation benchmarks, for the builder's n-gram decontamination."""
    if not cfg.data.builder.decontaminate:
        return None
    from redi.eval.benchmarks import load_benchmark

    texts: list[str] = []
    for name, bench in (cfg.eval.benchmarks or {}).items():
        texts.extend(p.problem for p in load_benchmark(name, bench, synthetic=cfg.data.synthetic))
    return texts


def training_rows(cfg: DictConfig, spec: ObjectiveSpec, tokenizer):
    """D_SFT or D_Pref for this run, tokenised; logs the builder's funnel and what tokenisation dropped."""
    from redi.data.builder import build_training_data

    settings = TokenizationSettings(
        prompt_template=cfg.data.prompt_template,
        max_length=cfg.data.max_length,
        truncation=cfg.data.truncation,
        chat_template=cfg.model.chat_template,
    )
    encoder = Encoder(tokenizer, settings)
    built = build_training_data(
        cfg.data,
        count_tokens=encoder.count_tokens,
        contamination_texts=contamination_texts(cfg),
        cache_dir=cache_dir(cfg),
        tokenizer_key=tokenizer_fingerprint(tokenizer),
    )
    table = built.pairs if spec.needs_pairs else built.sft
    if len(table) == 0:
        raise ValueError(
            f"the builder produced no {'pairs' if spec.needs_pairs else 'SFT rows'}; funnel: {built.funnel}"
        )
    if spec.needs_pairs:
        rows = encode_rows(encoder, table["problem"], table["chosen"], table["rejected"])
    else:
        rows = encode_rows(encoder, table["problem"], table["response"], None)
    log.info(
        "%d %s rows after tokenisation (%d truncated, %d dropped as longer than data.max_length=%d)",
        len(rows),
        "pair" if spec.needs_pairs else "SFT",
        rows.truncated,
        rows.dropped,
        cfg.data.max_length,
    )
    return rows


def make_evaluator(cfg: DictConfig, tokenizer, run_dir: Path):
    if not cfg.eval.benchmarks:
        return None
    from redi.eval.evaluate import evaluate

    def _evaluate(model: torch.nn.Module, step: int) -> dict[str, float]:
        model_path = None
        if cfg.eval.engine == "vllm":  # vLLM loads weights from disk: hand it the current ones
            model_path = str(run_dir / "eval_model")
            save_model(model, tokenizer, Path(model_path))
        return evaluate(
            model, tokenizer, cfg.eval, step, run_dir, synthetic=cfg.data.synthetic, model_path=model_path
        )

    return _evaluate


# ---------------------------------------------------------------------------------------------------------------
# the run


def wrap_distributed(model: torch.nn.Module, cfg: DictConfig, env: DistEnv) -> torch.nn.Module:
    """DDP for models that fit one device, FSDP2 (fully_shard) when trainer.distributed=fsdp."""
    if not env.enabled:
        return model
    if cfg.trainer.distributed == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[env.local_rank] if env.device.type == "cuda" else None)


def run(cfg: DictConfig, run_dir: Path, env: DistEnv | None = None) -> RunResult:
    """Train and evaluate one configuration in ``run_dir`` (resuming from its checkpoint, skipping if finished)."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    spec, hyper = validate(cfg)
    own_env = env is None
    env = env or setup(cfg.trainer.device)
    status = Status(run_dir)
    if status.finished:
        if own_env:
            teardown(env)
        log.info(
            "%s already ended %r at step %s: not running it again",
            run_dir,
            status.state,
            status.data.get("step"),
        )
        return RunResult(
            run_dir,
            status.state,
            status.data.get("step", 0),
            status.data.get("reason", ""),
            status.data.get("start_metrics", {}),
            status.data.get("final_metrics", {}),
            status.data.get("wandb"),
            0.0,
            skipped=True,
        )
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(run_dir, enabled=env.is_main)
    try:
        if env.is_main:
            status.update(
                state="running",
                objective=spec.name,
                hyperparameters=hyper,
                pid=os.getpid(),
                started_at=status.data.get("started_at") or time.strftime("%Y-%m-%dT%H:%M:%S"),
            )
        if cfg.mode == "stage1":
            return _stage1_only(cfg, run_dir, status, env, t0)
        model, tokenizer, source = starting_point(cfg, spec, run_dir, env)
        evaluator = make_evaluator(cfg, tokenizer, run_dir)
        if cfg.mode == "eval":
            result = _eval_only(cfg, run_dir, model, tokenizer, evaluator, status, tracker, env, spec)
        else:
            result = _train(
                cfg, run_dir, model, tokenizer, source, evaluator, status, tracker, env, spec, hyper
            )
        result.seconds = time.perf_counter() - t0
        return result
    except Interrupted as e:
        if env.is_main:
            status.update(state="interrupted", reason=str(e))
        _finish_quietly(tracker, exit_code=1)
        raise
    except (SystemExit, KeyboardInterrupt) as e:
        if env.is_main:  # stopped from outside (submitit's requeue exits this way); resumable
            status.update(state="interrupted", reason=f"{type(e).__name__} at step {status.data.get('step')}")
        _finish_quietly(tracker, exit_code=1)
        raise
    except BaseException as e:
        if env.is_main:
            status.update(state="failed", reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        _finish_quietly(tracker, exit_code=1)
        raise
    finally:
        if own_env:
            teardown(env)


def _finish_quietly(tracker: Tracker, exit_code: int) -> None:
    """Close the W&B run without masking the exception being raised (at a SLURM requeue W&B's service dies first)."""
    try:
        tracker.finish(exit_code=exit_code)
    except Exception as e:  # noqa: BLE001
        log.warning("could not close the W&B run cleanly: %s: %s", type(e).__name__, e)


def _start_tracking(cfg: DictConfig, tracker: Tracker, status: Status, spec: ObjectiveSpec) -> None:
    lg = cfg.logger
    group = lg.group or cfg.sweep.name
    from redi.analysis.wandb_views import run_tags

    config = to_container(cfg)
    tags = [*lg.tags, *run_tags(config), f"experiment:{cfg.experiment.name}"]
    run_id = tracker.start_wandb(
        mode=resolve_wandb_mode(lg.wandb_mode),
        project=lg.project,
        entity=lg.entity,
        group=group,
        job_type=spec.name,
        name=lg.name,
        tags=tags,
        config=config,
        run_id=status.data.get("wandb_run_id"),
    )
    if tracker.enabled:
        status.update(wandb_run_id=run_id, wandb=tracker.wandb_location, wandb_group=group)


def _train(cfg, run_dir, model, tokenizer, source, evaluator, status, tracker, env, spec, hyper) -> RunResult:
    rows = training_rows(cfg, spec, tokenizer)
    reference = None
    if spec.needs_reference:
        from redi.stages.reference import cached_reference_logps

        if source is None:
            raise ValueError(f"objective {spec.name!r} needs a reference model; set model.init_from")
        reference = cached_reference_logps(
            model, source, rows, tokenizer.pad_token_id, cfg.trainer.micro_batch_size, cache_dir(cfg), env
        )
    _start_tracking(cfg, tracker, status, spec)
    policy = wrap_distributed(model, cfg, env)
    outcome = train(
        LoopInputs(policy, rows, spec, hyper, reference, tokenizer.pad_token_id, cfg.lr, cfg.seed),
        cfg.trainer,
        run_dir=run_dir,
        env=env,
        tracker=tracker,
        status=status,
        evaluate=evaluator,
        eval_every=cfg.eval.every_n_steps,
        eval_at_start=cfg.eval.at_start and spec.needs_pairs,
        eval_at_end=cfg.eval.at_end,
        batching={
            "mode": cfg.data.batching,
            "window": cfg.data.group_window,
            "max_tokens": cfg.data.max_tokens_per_batch,
        },
    )
    start_metrics = _eval_at(run_dir, 0)
    # a sharded model's full weights are gathered (by every rank) for rank 0 to save
    weights = full_state_dict(policy) if is_sharded(policy) and outcome.state != "diverged" else None
    if env.is_main:
        if outcome.state != "diverged":
            save_model(model, tokenizer, run_dir / "model", state_dict=weights)
        tracker.summary({"state": outcome.state, "final_step": outcome.step, **outcome.eval_metrics})
        status.update(
            state=outcome.state,
            step=outcome.step,
            reason=outcome.reason,
            final_metrics=outcome.eval_metrics,
            start_metrics=start_metrics,
            ended_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        if outcome.state == "diverged":
            log.warning("run diverged: %s", outcome.reason)
    tracker.finish(exit_code=0)
    return RunResult(
        run_dir,
        outcome.state,
        outcome.step,
        outcome.reason,
        start_metrics,
        outcome.eval_metrics,
        status.data.get("wandb"),
    )


def _eval_only(cfg, run_dir, model, tokenizer, evaluator, status, tracker, env, spec) -> RunResult:
    if evaluator is None:
        raise ValueError("mode=eval with no benchmarks in eval.benchmarks")
    _start_tracking(cfg, tracker, status, spec)
    metrics = evaluator(model, 0) if env.is_main else {}
    tracker.log(metrics, step=0)
    tracker.summary(metrics)
    if env.is_main:
        status.update(
            state="completed", step=0, final_metrics=metrics, ended_at=time.strftime("%Y-%m-%dT%H:%M:%S")
        )
    tracker.finish(exit_code=0)
    return RunResult(run_dir, "completed", 0, "", {}, metrics, status.data.get("wandb"))


def _stage1_only(cfg: DictConfig, run_dir: Path, status: Status, env: DistEnv, t0: float) -> RunResult:
    """Build (or find) the cached stage-1 model this config's preference runs start from, and stop."""
    directory = ensure_stage1(cfg, env)
    if env.is_main:
        status.update(
            state="completed",
            step=Status(directory).data.get("step", 0),
            stage1_dir=str(directory),
            reason=f"stage-1 model in {directory / 'model'}",
            ended_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
    return RunResult(
        run_dir,
        "completed",
        Status(directory).data.get("step", 0),
        f"stage-1 model in {directory / 'model'}",
        seconds=time.perf_counter() - t0,
    )


def _eval_at(run_dir: Path, step: int) -> dict[str, float]:
    from redi.infra.tracking import MetricsFile

    for row in MetricsFile(run_dir / "metrics.jsonl").read():
        if row.get("step") == step and any(k.startswith("eval/") for k in row):
            return {k: v for k, v in row.items() if k.startswith("eval/")}
    return {}
