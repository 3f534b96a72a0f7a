"""The model and tokenizer a stage starts from: the tiny model from scratch, a path, the hub, or stage 1."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from redi.infra.distributed import DistEnv, barrier
from redi.model.load import build_tiny_model, load_model, load_tokenizer, train_tokenizer
from redi.model.resolve import resolve_source
from redi.model.source import ModelSource
from redi.objectives import ObjectiveSpec

log = logging.getLogger(__name__)


def wants_stage1_model(cfg: DictConfig, spec: ObjectiveSpec) -> bool:
    """True when the run starts from ``model.init_from`` (preference objectives and mode=eval)."""
    return spec.needs_pairs or cfg.mode == "eval"


def needs_stage1_model(cfg: DictConfig, spec: ObjectiveSpec) -> bool:
    """True when the run needs the cached stage-1 model: it starts from it, or it samples the run's data."""
    from redi.data.self_generated import enabled

    starts = wants_stage1_model(cfg, spec) and cfg.model.init_from == "stage1"
    samples = cfg.mode == "train" and enabled(cfg.data) and cfg.data.self_generated.model == "stage1"
    return starts or samples


def starting_point(cfg: DictConfig, spec: ObjectiveSpec, run_dir: Path, env: DistEnv, stage1: Path | None):
    """(model, tokenizer, source) the run starts from; source is None for a model built from scratch.

    ``stage1`` is the cached stage-1 run directory when ``model.init_from=stage1`` (redi.stages.stage1).
    """
    if wants_stage1_model(cfg, spec):
        if cfg.model.init_from == "stage1":
            assert stage1 is not None, "model.init_from=stage1 needs the stage-1 run directory"
            source = ModelSource("dir", str(stage1 / "model"))
        else:
            source = resolve_source(cfg.model.init_from, "model.init_from", cfg.model.tokenizer)
            if source.kind == "checkpoint":
                model, tokenizer = checkpoint_model(Path(source.location), env)
                return model, tokenizer, source
    elif cfg.model.base is not None:
        source = resolve_source(cfg.model.base, "model.base", cfg.model.tokenizer)
    else:
        tokenizer = tiny_tokenizer(cfg, run_dir, env)
        return build_tiny_model(cfg.model.arch, tokenizer, seed=cfg.seed).to(env.device), tokenizer, None
    log.info("loading %s", source)
    tokenizer = load_tokenizer(source, cfg.model)
    model = load_model(source, cfg.model, env.device)
    from redi.model.lora import apply_lora, enabled

    return (apply_lora(model, cfg.model) if enabled(cfg.model) else model), tokenizer, source


def checkpoint_model(step_dir: Path, env: DistEnv):
    """(model, tokenizer) of a redi checkpoint ``<run>/checkpoints/step_N``: the run's own starting point (read
    from its .hydra/config.yaml and status.json, as a resume builds it), then the checkpoint's weights."""
    from omegaconf import OmegaConf
    from safetensors.torch import load_file

    from redi.infra.checkpoint import MODEL_FILE, checkpoint_problem
    from redi.infra.status import read_status
    from redi.model.source import ModelSourceError
    from redi.objectives import get_objective

    if (problem := checkpoint_problem(step_dir)) is not None:
        raise ModelSourceError(f"model.init_from: checkpoint {str(step_dir)!r} cannot be used: {problem}")
    run_dir = step_dir.parent.parent
    run_cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    spec = get_objective(run_cfg.objective.name)
    recorded = read_status(run_dir / "status.json").get("stage1_dir")
    if wants_stage1_model(run_cfg, spec) and run_cfg.model.init_from == "stage1" and not recorded:
        raise ModelSourceError(
            f"model.init_from: {str(run_dir / 'status.json')!r} does not name the stage-1 model its run started from"
        )
    from_scratch = not wants_stage1_model(run_cfg, spec) and run_cfg.model.base is None
    if from_scratch and not (run_dir / "tokenizer" / "tokenizer.json").is_file():
        raise ModelSourceError(f"model.init_from: {str(run_dir)!r} has no tokenizer/ beside its checkpoints")
    log.info("loading %s (the model of %s, built as that run built it)", step_dir, run_dir)
    model, tokenizer, _ = starting_point(run_cfg, spec, run_dir, env, Path(recorded) if recorded else None)
    unwrapped = getattr(model, "module", model)
    unwrapped.load_state_dict(load_file(str(step_dir / MODEL_FILE), device=str(env.device)))
    return model, tokenizer


def tiny_tokenizer(cfg: DictConfig, run_dir: Path, env: DistEnv):
    """Train the byte-level BPE tokenizer on the teacher's problems and traces (kept in the run for resume).

    Rank 0 trains and saves it; the other ranks load rank 0's, so every rank tokenises the same way.
    """
    from transformers import AutoTokenizer

    from redi.data.build import tokenizer_texts

    saved = run_dir / "tokenizer"
    if env.enabled and not env.is_main:
        barrier(env)  # rank 0 saves it first
        return AutoTokenizer.from_pretrained(saved)
    if (saved / "tokenizer.json").exists():
        barrier(env)
        return AutoTokenizer.from_pretrained(saved)
    texts = tokenizer_texts(cfg.data)  # any data format, streamed (redi.data.build)
    tokenizer = train_tokenizer(texts, cfg.model.arch.vocab_size, cfg.model.chat_template)
    tokenizer.save_pretrained(saved)
    log.info("trained a %d-token BPE tokenizer on %d problems", len(tokenizer), texts.rows)
    barrier(env)
    return tokenizer
