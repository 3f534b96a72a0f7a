"""D_SFT and D_Pref from TRL-format rows (redi.data.formats), with the builder's generic rules and a funnel.

Rules, in order (each counted in the funnel): rows_loaded, rows_max_rows (``builder.max_rows``), rows_source
(``drop_sources``, when rows name a source), rows_decontaminated (no n-gram shared with a benchmark problem),
the shuffle with ``shuffle_seed``; then
- trl_preference: D_Pref = every pair whose prompt and both responses fit the token limits
  (pairs_prompt_fits, pairs_responses_fit); D_SFT = the chosen response of the first pair of each distinct
  prompt (sft_distinct_prompts), within the limits (sft_prompt_fits, sft_response_fits).
- trl_prompt_completion: D_SFT = every row within the limits; D_Pref is empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import datasets
import numpy as np

from redi.data.builder import (
    PAIR_COLUMNS,
    SFT_COLUMNS,
    BuiltData,
    CountTokens,
    _count,
    contamination_index,
    validate_builder_config,
)
from redi.data.formats import MESSAGES_COLUMN, DataFormat, load_rows, resolve_format
from redi.data.openr1 import load_traces

log = logging.getLogger(__name__)


def _table(rows: list[dict[str, str]], columns: tuple[str, ...]) -> datasets.Dataset:
    cols = (*columns, MESSAGES_COLUMN)
    return datasets.Dataset.from_dict(
        {c: [r[c] for r in rows] for c in cols},
        features=datasets.Features({c: datasets.Value("string") for c in cols}),
    )


def _fits(rows, cfg, count_tokens: CountTokens | None, response_keys: tuple[str, ...]) -> tuple[list, list]:
    """(rows whose prompt fits, of those the rows whose responses fit) under the builder's token limits."""
    if count_tokens is None or not rows:
        return rows, rows
    b = cfg.builder
    prompts = _count(count_tokens, [cfg.prompt_template.format(problem=r["problem"]) for r in rows])
    prompt_ok = [r for r, n in zip(rows, prompts, strict=True) if n <= b.max_prompt_tokens]
    lengths = [_count(count_tokens, [r[k] for r in prompt_ok]) for k in response_keys]
    both_ok = [
        r for r, *ns in zip(prompt_ok, *lengths, strict=True) if all(n <= b.max_response_tokens for n in ns)
    ]
    return prompt_ok, both_ok


def build_from_rows(
    rows: list[dict[str, str]],
    fmt: DataFormat,
    cfg: Any,
    count_tokens: CountTokens | None,
    contamination_texts: list[str] | None,
) -> BuiltData:
    """Apply the rules in the module docstring to normalised TRL rows."""
    validate_builder_config(cfg)
    b = cfg.builder
    funnel: dict[str, int] = {"rows_loaded": len(rows)}
    if b.max_rows is not None:
        rows = rows[: b.max_rows]
    funnel["rows_max_rows"] = len(rows)
    drop = set(b.drop_sources or [])
    rows = [r for r in rows if r["source"] not in drop]
    funnel["rows_source"] = len(rows)
    if (index := contamination_index(b, contamination_texts)) is not None:
        rows = [r for r in rows if not index.contains(r["problem"])]
    funnel["rows_decontaminated"] = len(rows)
    order = np.random.default_rng(b.shuffle_seed).permutation(len(rows))
    rows = [rows[k] for k in order]

    if fmt.name == "trl_preference":
        prompt_ok, pairs = _fits(rows, cfg, count_tokens, ("chosen", "rejected"))
        funnel["pairs_prompt_fits"] = len(prompt_ok)
        funnel["pairs_responses_fit"] = len(pairs)
        seen: set[tuple[str, str]] = set()
        firsts = []
        for r in rows:
            key = (r["problem"], r[MESSAGES_COLUMN])
            if key not in seen:
                seen.add(key)
                firsts.append({**r, "response": r["chosen"]})
        funnel["sft_distinct_prompts"] = len(firsts)
    else:
        pairs = []
        firsts = [{**r, "response": r["completion"]} for r in rows]
    sft_prompt_ok, sft = _fits(firsts, cfg, count_tokens, ("response",))
    funnel["sft_prompt_fits"] = len(sft_prompt_ok)
    funnel["sft_response_fits"] = len(sft)
    funnel["sft_rows"] = len(sft)
    funnel["pair_rows"] = len(pairs)
    if getattr(b, "swap_pairs", False):  # the label-inversion control, as for Open-R1 pairs
        pairs = [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in pairs]
    return BuiltData(sft=_table(sft, SFT_COLUMNS), pairs=_table(pairs, PAIR_COLUMNS), funnel=funnel)


def build_any(
    cfg: Any,
    count_tokens: CountTokens | None,
    contamination_texts: list[str] | None,
    load_traces: Callable[[Any], datasets.Dataset] = load_traces,
    count_chat: Callable[[list[str], str], list[int]] | None = None,
) -> BuiltData:
    """Resolve ``data.format``, load the rows and build D_SFT / D_Pref by the format's rules (logged).

    ``load_traces`` loads Open-R1 traces (the builder passes its own, which tests replace to count loads).
    """
    from redi.data.builder import build_from_traces

    fmt = resolve_format(cfg)
    log.info(fmt.describe())
    if fmt.name == "openr1":
        return build_from_traces(load_traces(cfg), cfg, count_tokens, contamination_texts, count_chat)
    return build_from_rows(load_rows(cfg, fmt), fmt, cfg, count_tokens, contamination_texts)


def tokenizer_texts(cfg: Any):
    """(rows, texts): prompts and responses of ``cfg``'s data, to train the tiny model's tokenizer from scratch."""
    fmt = resolve_format(cfg)
    if fmt.name == "openr1":
        traces = load_traces(cfg)
        return len(traces), (text for row in traces for text in [row["problem"], *row["generations"]])
    rows = load_rows(cfg, fmt)
    keys = ("chosen", "rejected") if fmt.name == "trl_preference" else ("completion",)
    return len(rows), (text for r in rows for text in [r["problem"], *(r[k] for k in keys)])
