"""Teacher traces -> D_SFT and D_Pref by the paper's rules, with a funnel of counts and a build cache.

Rules, in order (every row or trace a step removes is counted in the funnel, none is lost silently):
1. rows_loaded, then rows_max_rows (``builder.max_rows``, for quick runs)
2. rows_valid: problem_is_valid == "yes" (case-insensitive) when ``require_valid`` and the column exists
3. rows_source: source not in ``drop_sources``
4. rows_decontaminated: no word n-gram shared with a benchmark problem (``decontaminate``)
5. order: the rows' order in ``Dataset.shuffle(seed=shuffle_seed)`` of every loaded row, as the paper's scripts
   shuffle the whole dataset before filtering (clean_base_shuffled*.py in the REDI repository)
6. verdicts per trace (:func:`trace_correct`); incomplete traces dropped when ``require_complete``
7. D_SFT: the first correct trace of each problem; no length limit (data.max_length applies at tokenisation),
   unless ``sft_length_limits`` (then sft_prompt_fits / sft_response_fits as D_Pref's)
8. D_Pref: problems with a correct and an incorrect trace; chosen = first correct, rejected = first incorrect;
   prompt <= max_prompt_tokens and both responses <= max_response_tokens.
Lengths (``length_count``): paper = the chat template applied to the one message (the user turn
``prompt_template.format(problem=...)``, or the assistant turn) plus 1, by ``count_chat``, as the paper's
study_length_distribution.py counts them; text = the raw text's tokens, by ``count_tokens``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from redi.config.checks import run_check
from redi.data.build_key import cache_key
from redi.data.checks import check_build_settings
from redi.data.decontaminate import NgramIndex
from redi.data.funnel import empty_message, format_funnel
from redi.data.openr1 import DataError, check_local_file, load_traces, origin_of
from redi.infra.cache import building

log = logging.getLogger(__name__)

CountTokens = Callable[[list[str]], list[int]]
CountChat = Callable[[list[str], str], list[int]]  # (texts, role) -> tokens of each as a one-message chat
SFT_COLUMNS = ("problem_id", "problem", "response", "answer")
PAIR_COLUMNS = ("problem_id", "problem", "chosen", "rejected", "answer")


@dataclass
class BuiltData:
    """D_SFT (``sft``), D_Pref (``pairs``), the ordered funnel of counts, and where the build is cached."""

    sft: datasets.Dataset
    pairs: datasets.Dataset
    funnel: dict[str, int]
    path: Path | None = None
    key: str = ""


# ---------------------------------------------------------------------------------------------------------------
# verdicts


def trace_correct(mv: bool | None, llama: bool | None, verifiers: str, null_verdict: str) -> bool:
    """Whether one trace counts as correct.

    ``verifiers``: both (both verdicts must be True), math_verify, or llama (that verdict alone). A null verdict
    (the Llama judge did not answer) follows ``null_verdict``: "other" uses the other verifier's verdict in its
    place, "incorrect" counts it as False. Two nulls are incorrect: a null never makes a trace correct on its own.
    """
    if null_verdict == "other":
        mv, llama = (llama if mv is None else mv), (mv if llama is None else llama)
    if verifiers == "both":
        return mv is True and llama is True
    if verifiers == "math_verify":
        return mv is True
    return llama is True


def _verdict_list(values: list | None, n: int) -> list:
    return [None] * n if values is None else values


# ---------------------------------------------------------------------------------------------------------------
# the build


def validate_builder_config(cfg: Any) -> None:
    """Raise a DataError naming every build setting of ``cfg`` (the data block) that cannot work: the pre-flight's
    own check (redi.data.checks.check_build_settings)."""
    run_check(check_build_settings, cfg, "data", DataError)


def _rows(ds: datasets.Dataset, columns: list[str], batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    keys = [c for c in columns if c in ds.column_names]
    for batch in ds.select_columns(keys).iter(batch_size=batch_size):
        for values in zip(*(batch[k] for k in keys), strict=True):
            yield dict(zip(keys, values, strict=True))


def _count(count_tokens: CountTokens, texts: list[str], chunk: int = 1000) -> list[int]:
    out: list[int] = []
    for i in range(0, len(texts), chunk):
        part = texts[i : i + chunk]
        counts = list(count_tokens(part))
        if len(counts) != len(part):
            raise ValueError(f"count_tokens returned {len(counts)} counts for {len(part)} texts")
        out += [int(c) for c in counts]
    return out


@dataclass
class _Candidate:
    problem_id: str
    problem: str
    answer: str
    correct: str | None
    incorrect: str | None


def _counters(
    count_tokens: CountTokens, count_chat: CountChat | None, mode: str
) -> tuple[CountTokens, CountTokens]:
    """(prompt counter, response counter) for ``data.builder.length_count``."""
    if mode == "text" or count_chat is None:
        if mode == "paper":
            log.info("data.builder.length_count=paper without a chat counter: counting the raw text's tokens")
        return count_tokens, count_tokens
    return (lambda t: count_chat(t, "user")), (lambda t: count_chat(t, "assistant"))


def contamination_index(b: Any, contamination_texts: list[str] | None) -> NgramIndex | None:
    """The benchmark n-gram index for ``data.builder.decontaminate``; an error when there is nothing to index."""
    if not b.decontaminate:
        return None
    if not contamination_texts:
        raise DataError(
            "data.builder.decontaminate is true but no contamination texts were given; pass the benchmark "
            "problems or set data.builder.decontaminate=false"
        )
    return NgramIndex(contamination_texts, b.decontamination_ngram)


def _first_traces(row: dict[str, Any], b: Any, traces: dict[str, int]) -> tuple[str | None, str | None]:
    """(first correct, first incorrect) trace of one row by the verdicts (rule 6), counting into ``traces``."""
    gens = row["generations"]
    n = len(gens)
    mv = _verdict_list(row.get("correctness_math_verify"), n)
    ll = _verdict_list(row.get("correctness_llama"), n)
    complete = _verdict_list(row.get("is_reasoning_complete"), n)
    first_ok = first_bad = None
    for j in range(n):
        traces["traces"] += 1
        if b.require_complete and complete[j] is not True:
            traces["traces_dropped_incomplete"] += 1
            continue
        if trace_correct(mv[j], ll[j], b.verifiers, b.null_verdict):
            traces["traces_correct"] += 1
            first_ok = gens[j] if first_ok is None else first_ok
        else:
            traces["traces_incorrect"] += 1
            first_bad = gens[j] if first_bad is None else first_bad
    return first_ok, first_bad


def _candidates(
    ds: datasets.Dataset, b: Any, contamination_texts: list[str] | None, funnel: dict[str, int]
) -> list[_Candidate]:
    """Rules 2-6 over the rows, in the order of the paper's whole-dataset shuffle (rule 5), counted into ``funnel``."""
    check_valid = b.require_valid and "problem_is_valid" in ds.column_names
    if b.require_valid and not check_valid:
        log.info("data.builder.require_valid: no problem_is_valid column, every row counts as valid")
    drop_sources = set(b.drop_sources or [])
    index = contamination_index(b, contamination_texts)
    # the paper's scripts shuffle the whole dataset first (Dataset.shuffle(seed=42)), then filter in that order
    rank = np.empty(len(ds), dtype=np.int64)
    rank[np.random.default_rng(b.shuffle_seed).permutation(len(ds))] = np.arange(len(ds))
    n_valid = n_source = 0
    kept: list[_Candidate] = []
    kept_rows: list[int] = []
    traces = {"traces": 0, "traces_dropped_incomplete": 0, "traces_correct": 0, "traces_incorrect": 0}
    columns = ["problem", "answer", "uuid", "problem_is_valid", "source", "generations",
               "correctness_math_verify", "correctness_llama", "is_reasoning_complete"]  # fmt: skip
    for i, row in enumerate(_rows(ds, columns)):
        if check_valid and str(row.get("problem_is_valid") or "").strip().lower() != "yes":
            continue
        n_valid += 1
        if row.get("source") in drop_sources:
            continue
        n_source += 1
        if index is not None and index.contains(row["problem"]):
            continue
        first_ok, first_bad = _first_traces(row, b, traces)
        pid = row.get("uuid") if isinstance(row.get("uuid"), str) and row.get("uuid") else f"row-{i}"
        answer = "" if row.get("answer") is None else str(row["answer"])
        kept.append(_Candidate(pid, row["problem"], answer, first_ok, first_bad))
        kept_rows.append(i)
    funnel["rows_valid"] = n_valid
    funnel["rows_source"] = n_source
    funnel["rows_decontaminated"] = len(kept)
    funnel.update(traces)
    return [kept[k] for k in np.argsort(rank[kept_rows], kind="stable")] if kept else kept


def _length_filter(
    sft_cands: list[_Candidate],
    pair_cands: list[_Candidate],
    cfg: Any,
    count_tokens: CountTokens,
    count_chat: CountChat | None,
    funnel: dict[str, int],
) -> tuple[list[_Candidate], list[_Candidate]]:
    """Rules 7-8's token limits: (D_SFT, D_Pref) candidates that fit, counted into ``funnel``."""
    b = cfg.builder
    user, assistant = _counters(count_tokens, count_chat, b.length_count)
    prompts = _count(user, [cfg.prompt_template.format(problem=c.problem) for c in sft_cands])
    correct_len = _count(assistant, [c.correct for c in sft_cands])  # type: ignore[misc]
    fits = {id(c): p <= b.max_prompt_tokens for c, p in zip(sft_cands, prompts, strict=True)}
    ok_len = {id(c): n <= b.max_response_tokens for c, n in zip(sft_cands, correct_len, strict=True)}
    sft = sft_cands
    if b.sft_length_limits:  # otherwise D_SFT is limited only by data.max_length at tokenisation
        sft = [c for c in sft_cands if fits[id(c)]]
        funnel["sft_prompt_fits"] = len(sft)
        sft = [c for c in sft if ok_len[id(c)]]
        funnel["sft_response_fits"] = len(sft)
    funnel["pairs_has_both"] = len(pair_cands)
    pairs = [c for c in pair_cands if fits[id(c)]]
    funnel["pairs_prompt_fits"] = len(pairs)
    bad_len = _count(assistant, [c.incorrect for c in pairs])  # type: ignore[misc]
    pairs = [c for c, n in zip(pairs, bad_len, strict=True) if ok_len[id(c)] and n <= b.max_response_tokens]
    funnel["pairs_responses_fit"] = len(pairs)
    return sft, pairs


def _tables(sft: list[_Candidate], pairs: list[_Candidate], swap_pairs: bool) -> tuple[datasets.Dataset, ...]:
    """D_SFT and D_Pref as string-typed datasets with :data:`SFT_COLUMNS` / :data:`PAIR_COLUMNS`."""
    sft_ds = datasets.Dataset.from_dict(
        {
            "problem_id": [c.problem_id for c in sft],
            "problem": [c.problem for c in sft],
            "response": [c.correct for c in sft],
            "answer": [c.answer for c in sft],
        },
        features=datasets.Features({k: datasets.Value("string") for k in SFT_COLUMNS}),
    )
    pairs_ds = datasets.Dataset.from_dict(
        {
            "problem_id": [c.problem_id for c in pairs],
            "problem": [c.problem for c in pairs],
            # swap_pairs: the label-inversion control (chosen = the incorrect trace), as the official
            # ablation_verifier_signal.py swaps the verifier's labels
            "chosen": [c.incorrect if swap_pairs else c.correct for c in pairs],
            "rejected": [c.correct if swap_pairs else c.incorrect for c in pairs],
            "answer": [c.answer for c in pairs],
        },
        features=datasets.Features({k: datasets.Value("string") for k in PAIR_COLUMNS}),
    )
    return sft_ds, pairs_ds


def build_from_traces(
    ds: datasets.Dataset,
    cfg: Any,
    count_tokens: CountTokens | None,
    contamination_texts: list[str] | None,
    count_chat: CountChat | None = None,
) -> BuiltData:
    """Apply the paper's rules to loaded traces (no cache); see the module docstring for the steps."""
    validate_builder_config(cfg)
    b = cfg.builder
    funnel: dict[str, int] = {"rows_loaded": len(ds)}
    if b.max_rows is not None and b.max_rows < len(ds):
        ds = ds.select(range(b.max_rows))
    funnel["rows_max_rows"] = len(ds)
    kept = _candidates(ds, b, contamination_texts, funnel)
    sft_cands = [c for c in kept if c.correct is not None]
    pair_cands = [c for c in kept if c.correct is not None and c.incorrect is not None]
    funnel["sft_has_correct"] = len(sft_cands)
    if count_tokens is None:
        log.info("no token counter given: the prompt/response length filters are skipped")
        sft, pairs = sft_cands, pair_cands
        if b.sft_length_limits:
            funnel["sft_prompt_fits"] = funnel["sft_response_fits"] = len(sft)
        funnel["pairs_has_both"] = funnel["pairs_prompt_fits"] = funnel["pairs_responses_fit"] = len(pairs)
    else:
        sft, pairs = _length_filter(sft_cands, pair_cands, cfg, count_tokens, count_chat, funnel)
    funnel["sft_rows"] = len(sft)
    funnel["pair_rows"] = len(pairs)
    sft_ds, pairs_ds = _tables(sft, pairs, b.swap_pairs)
    return BuiltData(sft=sft_ds, pairs=pairs_ds, funnel=funnel)


def _empty_table(columns: tuple[str, ...]) -> datasets.Dataset:
    features = datasets.Features({k: datasets.Value("string") for k in columns})
    return datasets.Dataset.from_dict({k: [] for k in columns}, features=features)


def load_cached(target: Path, key: str) -> BuiltData:
    """A cached build; a table a build did not save (no rows: Arrow cannot read an empty one back) is empty."""

    def table(name: str, columns: tuple[str, ...]) -> datasets.Dataset:
        path = target / name
        return datasets.load_from_disk(str(path)) if path.is_dir() else _empty_table(columns)

    return BuiltData(
        sft=table("sft", SFT_COLUMNS),
        pairs=table("pairs", PAIR_COLUMNS),
        funnel=json.loads((target / "funnel.json").read_text()),
        path=target,
        key=key,
    )


def build_training_data(
    cfg: Any,
    count_tokens: CountTokens | None,
    contamination_texts: list[str] | None,
    cache_dir: Path,
    tokenizer_key: str | None = None,
    count_chat: CountChat | None = None,
) -> BuiltData:
    """D_SFT and D_Pref for ``cfg`` (a DataConfig), built once per distinct input and cached.

    The build lives in ``cache_dir/data/<key>/`` (sft/, pairs/, funnel.json, inputs.json), where the key hashes
    the builder settings, prompt template, column map, the source's fingerprint, ``tokenizer_key`` (required when
    ``count_tokens`` is given: it names the tokenizer the lengths were counted with), the contamination texts and
    this package's code. Concurrent callers (sweep members) serialise on a file lock; the first builds into a
    temporary directory and renames it into place, the others load it.
    """
    validate_builder_config(cfg)
    if count_tokens is not None and not tokenizer_key:
        raise ValueError(
            "build_training_data: tokenizer_key is required with count_tokens (it keys the cache)"
        )
    if cfg.source == "local" and cfg.path and Path(str(cfg.path)).expanduser().exists():
        check_local_file(cfg)  # before format detection or Arrow reads it
    key, inputs = cache_key(cfg, tokenizer_key if count_tokens is not None else None, contamination_texts)
    target = Path(cache_dir) / "data" / key
    with building(target, f"the data build {key}") as work:
        if work is None:
            built = load_cached(target, key)
            log.info("data: cached build %s\n%s", target, format_funnel(built.funnel))
            return built
        from redi.data.trl_builder import build_any  # Open-R1 traces or TRL rows (redi.data.formats)

        built = build_any(
            cfg, count_tokens, contamination_texts, load_traces=load_traces, count_chat=count_chat
        )
        if built.funnel.get("sft_rows", 1) == 0 and built.funnel.get("pair_rows", 1) == 0:
            raise DataError(empty_message(built.funnel, "sft", origin_of(cfg)))
        for name, table in (("sft", built.sft), ("pairs", built.pairs)):
            if len(table):  # Arrow cannot read an empty table back: load_cached makes it empty instead
                table.save_to_disk(str(work / name))
        (work / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True, default=str))
        (work / "funnel.json").write_text(json.dumps(built.funnel, indent=2))
    log.info("data: built %s from %s\n%s", target, cfg.source, format_funnel(built.funnel))
    return load_cached(target, key)
