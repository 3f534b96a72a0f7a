"""The builder's rules that apply to every format, each counted into the funnel (none removes a row silently).

In order: rows_loaded, rows_max_rows (``builder.max_rows``, the first rows), the format's own row rules (Open-R1:
rows_valid), rows_source (``drop_sources``, when the rows name a source), rows_decontaminated (no word n-gram
shared with a benchmark problem; the step is absent when decontamination is off, so the funnel never claims it
ran), then the format's candidates; their order is the paper's shuffle (the rows' order in
``Dataset.shuffle(seed=shuffle_seed)`` of every row after max_rows, as clean_base_shuffled*.py in the REDI repository
shuffles the whole dataset before filtering); D_SFT = the candidates with a chosen response (or the first of each
prompt), D_Pref = those with both; then the token limits: prompt <= max_prompt_tokens and each response <=
max_response_tokens, for D_Pref and, when ``sft_length_limits`` (or the format says so), for D_SFT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from redi.data.decontaminate import NgramIndex, contaminated
from redi.data.errors import DataError
from redi.data.formats.base import Format
from redi.data.lengths import LengthCounter, lengths
from redi.data.tables import take

log = logging.getLogger(__name__)
LENGTH_COUNTS = ("paper", "text")


def check_builder(cfg: Any) -> None:
    """Raise naming the key and value of a builder setting that cannot work (the pre-flight's rules, at run time)."""
    from redi.config.checks import run_check
    from redi.data.checks import check_build_settings

    run_check(check_build_settings, cfg, "data", DataError)


def decontaminates(cfg: Any) -> bool:
    """Whether the build removes problems found in the benchmarks: ``data.builder.decontaminate``, or when it is
    null (the default), for every source but the synthetic teacher (which holds its evaluation problems out)."""
    setting = cfg.builder.decontaminate
    return cfg.source != "synthetic" if setting is None else bool(setting)


def contamination_index(cfg: Any, contamination_texts: list[str] | None) -> NgramIndex | None:
    """The benchmark n-gram index when the build decontaminates and there are benchmark problems to index.

    An explicit ``data.builder.decontaminate=true`` without any is an error; the default (null) then says so and
    goes on (the funnel then has no rows_decontaminated step).
    """
    if not decontaminates(cfg):
        return None
    if not contamination_texts:
        if cfg.builder.decontaminate is None:
            log.info(
                "data: no evaluation benchmark is configured, so there is nothing to decontaminate against"
            )
            return None
        raise DataError(
            "data.builder.decontaminate is true but no contamination texts were given; pass the benchmark "
            "problems or set data.builder.decontaminate=false"
        )
    return NgramIndex(contamination_texts, cfg.builder.decontamination_ngram)


def row_rules(impl: Format, table: pa.Table, cfg: Any, funnel: dict[str, int]) -> np.ndarray:
    """The kept rows of one piece under the format's row rules and rows_source (counts added into ``funnel``)."""
    keep = np.ones(len(table), dtype=bool)
    for step, mask in impl.filters(table, cfg):
        keep &= mask
        funnel[step] = funnel.get(step, 0) + int(keep.sum())
    drop = list(cfg.builder.drop_sources or [])
    if drop and "source" in table.column_names and len(table):
        sources = table.column("source")
        if not pa.types.is_string(sources.type):
            sources = pc.if_else(pc.is_valid(sources), pc.cast(sources, pa.string(), safe=False), None)
        keep &= ~pc.fill_null(pc.is_in(sources, pa.array(drop, pa.string())), False).to_numpy(
            zero_copy_only=False
        )
    funnel["rows_source"] = funnel.get("rows_source", 0) + int(keep.sum())
    return np.flatnonzero(keep)


def decontaminated(
    impl: Format, cands: pa.Table, index: NgramIndex | None, processes: int, funnel: dict[str, int]
) -> np.ndarray:
    """Which candidates share no n-gram with a benchmark problem (all of them when ``index`` is None), checked by
    ``processes`` workers; rows_decontaminated counts the rows they come from, when decontamination ran."""
    if index is None:
        return np.ones(len(cands), dtype=bool)
    problems = cands.column("problem")
    pieces = (problems.slice(i, 5000).to_pylist() for i in range(0, len(problems), 5000))
    keep = ~np.asarray(contaminated(index, pieces, len(problems), processes), dtype=bool)
    funnel["rows_decontaminated"] = int(impl.rows_of(cands)[keep].sum())
    return keep


def shuffle_order(n_rows: int, seed: int, rows: np.ndarray) -> np.ndarray:
    """Positions of ``rows`` (source row numbers) sorted by the rows' place in the seeded shuffle of all n_rows."""
    rank = np.empty(n_rows, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n_rows)] = np.arange(n_rows)
    return np.argsort(rank[rows], kind="stable")


@dataclass
class Limits:
    """The token limits' counters (user turn, assistant turn) and how many processes count."""

    user: LengthCounter
    assistant: LengthCounter
    processes: int = 1


def _first_of_each_prompt(cands: pa.Table, order: np.ndarray) -> np.ndarray:
    problems = take(cands.column("problem"), order).to_pylist()
    messages = take(cands.column("prompt_messages"), order).to_pylist()
    seen: set[tuple[str, str]] = set()
    keep = []
    for k, key in enumerate(zip(problems, messages, strict=True)):
        if key not in seen:
            seen.add(key)
            keep.append(k)
    return order[np.asarray(keep, dtype=np.int64)] if keep else order[:0]


def select(
    cands: pa.Table,
    alive: np.ndarray,
    fmt_impl: Format,
    n_rows: int,
    cfg: Any,
    limits: Limits | None,
    funnel: dict[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """(D_SFT, D_Pref) as positions of the ``alive`` candidates in the shuffled order, within the token limits."""
    b = cfg.builder
    order = shuffle_order(n_rows, b.shuffle_seed, cands.column("row").to_numpy())
    has_chosen = alive & pc.is_valid(cands.column("chosen")).to_numpy(zero_copy_only=False)
    has_both = has_chosen & pc.is_valid(cands.column("rejected")).to_numpy(zero_copy_only=False)
    sft = order[has_chosen[order]]
    if fmt_impl.sft_distinct_prompts:
        sft = _first_of_each_prompt(cands, sft)
    if fmt_impl.sft_step:
        funnel[fmt_impl.sft_step] = len(sft)
    pairs = order[has_both[order]] if fmt_impl.has_pairs else order[:0]
    limited = b.sft_length_limits if fmt_impl.sft_limits is None else fmt_impl.sft_limits
    if limits is None:
        log.info("no token counter given: the prompt/response length filters are skipped")
        fits = _AllFit()
    else:
        needed = np.union1d(sft, pairs) if limited else pairs
        fits = _Fits(cands, needed, cfg, limits)
    if limited:
        sft = sft[fits.prompt(sft)]
        funnel["sft_prompt_fits"] = len(sft)
        sft = sft[fits.response(sft, "chosen")]
        funnel["sft_response_fits"] = len(sft)
    if fmt_impl.has_pairs:
        if fmt_impl.pairs_step:
            funnel[fmt_impl.pairs_step] = len(pairs)
        pairs = pairs[fits.prompt(pairs)]
        funnel["pairs_prompt_fits"] = len(pairs)
        pairs = pairs[fits.response(pairs, "chosen") & fits.response(pairs, "rejected")]
        funnel["pairs_responses_fit"] = len(pairs)
    funnel["sft_rows"] = len(sft)
    funnel["pair_rows"] = len(pairs)
    return sft, pairs


class _AllFit:
    def prompt(self, rows: np.ndarray) -> np.ndarray:
        return np.ones(len(rows), dtype=bool)

    def response(self, rows: np.ndarray, column: str) -> np.ndarray:
        return np.ones(len(rows), dtype=bool)


class _Fits:
    """Which candidates fit the limits, counting each needed text once (only where its bytes do not decide)."""

    def __init__(self, cands: pa.Table, needed: np.ndarray, cfg: Any, limits: Limits) -> None:
        self.cfg, self.limits, self.b = cfg, limits, cfg.builder
        self.cands = cands
        self.needed = np.unique(needed)  # sorted: a candidate's place in it is found by searchsorted
        self.tokenised = 0
        self._prompt_ok = self._within(self._prompt_texts(), limits.user, self.b.max_prompt_tokens)
        self._response_ok: dict[str, np.ndarray] = {}

    def _prompt_texts(self) -> pa.ChunkedArray:
        problems = self.cands.column("problem")
        template = self.cfg.prompt_template
        if template == "{problem}":
            return problems
        return pa.chunked_array(
            [pa.array([template.format(problem=p) for p in problems.to_pylist()], pa.string())]
        )

    def _within(self, texts: pa.ChunkedArray, counter: LengthCounter, limit: int) -> np.ndarray:
        counts, tokenised = lengths(counter, texts, self.needed, limit, self.limits.processes, "prompts")
        self.tokenised += tokenised
        return counts <= limit

    def _at(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.needed, rows)

    def prompt(self, rows: np.ndarray) -> np.ndarray:
        return self._prompt_ok[self._at(rows)] if len(rows) else np.ones(0, dtype=bool)

    def response(self, rows: np.ndarray, column: str) -> np.ndarray:
        if column not in self._response_ok:
            self._response_ok[column] = self._response_within(column)
        return self._response_ok[column][self._at(rows)] if len(rows) else np.ones(0, dtype=bool)

    def _response_within(self, column: str) -> np.ndarray:
        texts = self.cands.column(column)
        valid = pc.is_valid(texts).to_numpy(zero_copy_only=False)[self.needed]
        ok = np.zeros(len(self.needed), dtype=bool)
        if valid.any():
            rows = self.needed[valid]
            counts, tokenised = lengths(
                self.limits.assistant, texts, rows, self.b.max_response_tokens, self.limits.processes,
                column,
            )  # fmt: skip
            self.tokenised += tokenised
            ok[valid] = counts <= self.b.max_response_tokens
        return ok
