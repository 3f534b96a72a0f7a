"""What every stage starts from: the model and tokenizer, the training rows, and the cache directory."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from redi.data.tokenize import EncodedRows, Encoder, TokenizationSettings, encode_rows, warn_if_much_truncated
from redi.infra.distributed import DistEnv, barrier
from redi.infra.progress import phase
from redi.model import (
    ModelSource,
    build_tiny_model,
    load_model,
    load_tokenizer,
    resolve_source,
    tokenizer_fingerprint,
    train_tokenizer,
)
from redi.objectives import ObjectiveSpec

log = logging.getLogger(__name__)


def cache_dir(cfg: DictConfig) -> Path:
    """Where the entries shared by the runs of a sweep live (stage 1, reference log-probs, built data)."""
    return Path(cfg.paths.cache_dir).expanduser().resolve()


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
    elif cfg.model.base is not None:
        source = resolve_source(cfg.model.base, "model.base", cfg.model.tokenizer)
    else:
        tokenizer = tiny_tokenizer(cfg, run_dir, env)
        return build_tiny_model(cfg.model.arch, tokenizer, seed=cfg.seed).to(env.device), tokenizer, None
    log.info("loading %s", source)
    tokenizer = load_tokenizer(source, cfg.model)
    model = load_model(source, cfg.model, env.device)
    from redi.lora import apply_lora, enabled

    return (apply_lora(model, cfg.model) if enabled(cfg.model) else model), tokenizer, source


def tiny_tokenizer(cfg: DictConfig, run_dir: Path, env: DistEnv):
    """Train the byte-level BPE tokenizer on the teacher's problems and traces (kept in the run for resume).

    Rank 0 trains and saves it; the other ranks load rank 0's, so every rank tokenises the same way.
    """
    from transformers import AutoTokenizer

    from redi.data.trl_builder import tokenizer_texts

    saved = run_dir / "tokenizer"
    if env.enabled and not env.is_main:
        barrier(env)  # rank 0 saves it first
        return AutoTokenizer.from_pretrained(saved)
    if (saved / "tokenizer.json").exists():
        barrier(env)
        return AutoTokenizer.from_pretrained(saved)
    n_rows, texts = tokenizer_texts(cfg.data)  # any data format (redi.data.formats)
    tokenizer = train_tokenizer(texts, cfg.model.arch.vocab_size, cfg.model.chat_template)
    tokenizer.save_pretrained(saved)
    log.info("trained a %d-token BPE tokenizer on %d problems", len(tokenizer), n_rows)
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


def training_rows(
    cfg: DictConfig,
    spec: ObjectiveSpec,
    tokenizer,
    env: DistEnv | None = None,
    stage1: Path | None = None,
) -> EncodedRows:
    """D_SFT or D_Pref for this run, tokenised; logs the builder's funnel and what tokenisation dropped.

    With data.self_generated.enabled the rows are the sampling model's own graded samples on the problems of the
    teacher's build (redi.stages.self_generated; ``stage1``: the cached stage-1 run directory, when known).
    """
    from redi.data.builder import build_training_data

    settings = TokenizationSettings(
        prompt_template=cfg.data.prompt_template,
        max_length=cfg.data.max_length,
        truncation=cfg.data.truncation,
        chat_template=cfg.model.chat_template,
    )
    encoder = Encoder(tokenizer, settings)
    with phase("data build"):
        built = build_training_data(
            cfg.data,
            count_tokens=encoder.count_tokens,
            contamination_texts=contamination_texts(cfg),
            cache_dir=cache_dir(cfg),
            tokenizer_key=tokenizer_fingerprint(tokenizer),
            count_chat=encoder.count_chat_message,
        )
        from redi.data.self_generated import enabled

        if enabled(cfg.data):
            from redi.stages.self_generated import self_generated_data

            built = self_generated_data(cfg, built, env, stage1)
    table = built.pairs if spec.needs_pairs else built.sft
    what = "pair" if spec.needs_pairs else "SFT"
    if len(table) == 0:
        raise ValueError(
            f"the builder produced no {'pairs' if spec.needs_pairs else 'SFT rows'}; funnel: {built.funnel}"
        )
    from redi.data.formats import prompts_of  # conversational prompts keep their messages

    if spec.needs_pairs:
        rows = encode_rows(encoder, prompts_of(table), table["chosen"], table["rejected"])
    else:
        rows = encode_rows(encoder, prompts_of(table), table["response"], None)
    rows.funnel = {
        **built.funnel,
        "rows_dropped_by_max_length": rows.dropped,
        "rows_truncated_by_max_length": rows.truncated,
    }
    log.info(
        "%d %s rows after tokenisation (%d truncated, %d dropped as longer than data.max_length=%d)",
        len(rows),
        what,
        rows.truncated,
        rows.dropped,
        cfg.data.max_length,
    )
    warn_if_much_truncated(rows, cfg.data.max_length, cfg.data.truncation)
    return rows
