"""The training rows of a stage: D_SFT or D_Pref built by the data floor (or sampled by the student), tokenised."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from redi.data.tokenize import EncodedRows, Encoder, TokenizationSettings, encode_rows, warn_if_much_truncated
from redi.infra.cache import cache_dir
from redi.infra.distributed import DistEnv
from redi.infra.progress import phase
from redi.model.load import tokenizer_fingerprint
from redi.objectives import ObjectiveSpec

log = logging.getLogger(__name__)


def contamination_texts(cfg: DictConfig) -> list[str] | None:
    """Problems of the configured evaluation benchmarks, for the builder's n-gram decontamination."""
    from redi.data.rules import decontaminates

    if not decontaminates(cfg.data):
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
    teacher's build (redi.inputs.self_generated; ``stage1``: the cached stage-1 run directory, when known).
    """
    from redi.data.build import build_training_data

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
            tokenizer=tokenizer,  # texts whose bytes already fit the limits are not tokenised
        )
        from redi.data.self_generated import enabled

        if enabled(cfg.data):
            from redi.inputs.self_generated import self_generated_data

            built = self_generated_data(cfg, built, env, stage1)
    table = built.pairs if spec.needs_pairs else built.sft
    what = "pair" if spec.needs_pairs else "SFT"
    if len(table) == 0:  # one line naming the funnel step that emptied it (run.py prints a DataError so)
        from redi.data.errors import DataError
        from redi.data.funnel import empty_message

        origin = cfg.data.path if cfg.data.source == "local" else f"data.source={cfg.data.source}"
        raise DataError(empty_message(built.funnel, "pairs" if spec.needs_pairs else "sft", str(origin)))
    from redi.data.tables import prompts_of  # conversational prompts keep their messages

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
