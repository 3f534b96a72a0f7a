"""D_SFT and D_Pref for a data config, read top to bottom: sources -> formats -> rules -> tables.

1. the source (redi.data.sources): a local file, folder or glob of shards, a hub dataset or the synthetic teacher;
   its fingerprint keys the cache, its first row tells the format;
2. the format (redi.data.formats): ``data.format`` or the one detected from the columns; it checks every row
   (naming the first bad row and column) and turns the kept rows into candidates;
3. the rules (redi.data.rules): max_rows, the format's own, drop_sources, decontamination, the paper's shuffle,
   the token limits, each counted into the funnel (redi.data.funnel);
4. the tables (redi.data.tables): D_SFT and D_Pref saved as memory-mapped Arrow files.

:func:`build_training_data` caches the build in ``<cache>/data/<key>/`` and its stages on the way (the source's
parse as ``<cache>/data-stages/source-<key>/``, the candidates as ``cands-<key>/`` beside it), each published whole under a lock, so a killed
build restarts from the last stage it finished and builds that differ only in later settings share the earlier
stages. Rows flow as Arrow tables a piece at a time: memory stays bounded whatever the data's size. Each stage
logs a start and an end line (and progress lines while tokens are counted).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from redi.data import formats, rules, tables
from redi.data.build_key import cache_key, candidates_key
from redi.data.errors import DataError
from redi.data.formats.base import CANDIDATE_SCHEMA, DataFormat, Format
from redi.data.funnel import empty_message, format_funnel
from redi.data.lengths import counters, workers
from redi.data.sources import Source, open_source, stored
from redi.data.tables import MESSAGES_COLUMN, PAIR_COLUMNS, SFT_COLUMNS, BuiltData
from redi.infra.progress import Progress, phase

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A source opened and its format resolved (nothing read but the first row)."""

    source: Source
    fmt: DataFormat
    impl: Format


def prepare(cfg: Any, table: pa.Table | None = None) -> Prepared:
    """Open ``cfg``'s source and resolve ``data.format`` against its columns and first row (``table``: rows given
    instead of the source's, as tools and tests give them)."""
    name = getattr(cfg, "format", formats.AUTO) or formats.AUTO
    if name != formats.AUTO:
        formats.get_format(name)  # an unknown name is named before any file is opened
    source = open_source(cfg) if table is None else Source(cfg.source, str(cfg.path or cfg.source), cfg)
    if source.kind == "synthetic":
        if name not in (formats.AUTO, "openr1"):
            raise DataError(f"data.format={name}: the synthetic teacher writes openr1 traces")
        return Prepared(source, DataFormat("openr1", how="the synthetic teacher"), formats.get_format("openr1"))
    if table is None:
        columns, row = source.first_row()
    else:
        columns, row = table.column_names, (table.slice(0, 1).to_pylist() or [{}])[0]
    fmt = formats.resolve(name, columns, row, source.origin)
    return Prepared(source, fmt, formats.get_format(fmt.name))


def read_rows(prep: Prepared, cfg: Any, store: Path | None = None) -> pa.Table:
    """Every row of the source, checked by the format (DataError names the first bad row and column)."""
    impl, fmt, origin = prep.impl, prep.fmt, prep.source.origin

    def check(index: int, row: dict[str, Any]) -> None:
        impl.check_row(index, row, origin, fmt)

    with phase("read"):
        table = prep.source.read(check, store)
    with phase("check rows"):
        impl.check_table(table, origin, fmt, cfg)
    log.info("data: %d rows from %s", len(table), origin)
    return table


def load_rows(cfg: Any):
    """The checked rows of ``cfg``'s source as a ``datasets.Dataset`` (for tools and tests; no cache)."""
    rules.check_builder(cfg)
    return tables.in_memory(read_rows(prepare(cfg), cfg))


def tokenizer_texts(cfg: Any) -> tuple[int, Iterator[str]]:
    """(rows, texts): every prompt and response of ``cfg``'s data, to train the tiny model's tokenizer from scratch."""
    prep = prepare(cfg)
    table = read_rows(prep, cfg)
    return len(table), prep.impl.texts(table, prep.fmt)


# ---------------------------------------------------------------------------------------------------------------
# the build


def _candidates(prep: Prepared, table: pa.Table, cfg: Any, texts: list[str] | None, funnel: dict[str, int]):
    """(candidate pieces, n_rows): the row rules and the format's candidates (funnel counts filled in)."""
    table = rules.first_rows(table, cfg.builder.max_rows, funnel)
    index = rules.contamination_index(cfg, texts)
    processes = workers(int(getattr(cfg, "num_workers", 0) or 0))
    with phase("row rules"):
        rows = rules.kept_rows(prep.impl, prep.fmt, table, cfg, index, processes, prep.source.origin, funnel)
    return prep.impl.candidates(rows, prep.fmt, cfg, prep.source.origin, funnel), len(table)


def _limits(cfg: Any, count_tokens, count_chat, tokenizer) -> rules.Limits | None:
    if count_tokens is None:
        return None
    user, assistant = counters(cfg.builder.length_count, count_tokens, count_chat, tokenizer)
    return rules.Limits(user, assistant, workers(int(getattr(cfg, "num_workers", 0) or 0)))


def _tables(prep: Prepared, cands: pa.Table, n_rows: int, cfg: Any, limits, funnel: dict[str, int]):
    """(sft pieces, pairs pieces, their schemas) in the shuffled order, within the token limits."""
    if limits is not None:
        progress = Progress(2 * len(cands), "count tokens", unit="texts")
        limits.on_chunk = progress.update
    with phase("shuffle and token limits"):
        sft, pairs = rules.select(cands, prep.impl, n_rows, cfg, limits, funnel)
    extra = (MESSAGES_COLUMN,) if prep.impl.keeps_messages else ()
    swap = bool(cfg.builder.swap_pairs)  # the label-inversion control: chosen = the rejected response
    sft_cols = dict(
        zip(("problem_id", "problem", "chosen", "answer", *extra), (*SFT_COLUMNS, *extra), strict=True)
    )
    pair_src = (
        "problem_id",
        "problem",
        "rejected" if swap else "chosen",
        "chosen" if swap else "rejected",
        "answer",
    )
    pair_cols = dict(zip((*pair_src, *extra), (*PAIR_COLUMNS, *extra), strict=True))
    return (
        (tables.pieces_in_order(cands, sft, sft_cols), tables.schema((*SFT_COLUMNS, *extra))),
        (tables.pieces_in_order(cands, pairs, pair_cols), tables.schema((*PAIR_COLUMNS, *extra))),
    )


def build_rows(
    cfg: Any,
    count_tokens=None,
    contamination_texts: list[str] | None = None,
    count_chat=None,
    tokenizer=None,
    table: Any = None,
) -> BuiltData:
    """The build in memory, without a cache (tools and tests); ``table``: rows already read (an Arrow table or a
    datasets.Dataset; else the source's)."""
    rules.check_builder(cfg)
    if table is not None and not isinstance(table, pa.Table):  # a datasets.Dataset
        table = (table.flatten_indices() if table._indices is not None else table).data.table
    prep = prepare(cfg, table)
    log.info(prep.impl.describe(prep.fmt))
    if table is None:
        table = read_rows(prep, cfg)
    else:
        prep.impl.check_table(table, prep.source.origin, prep.fmt, cfg)
    funnel: dict[str, int] = {}
    pieces, n_rows = _candidates(prep, table, cfg, contamination_texts, funnel)
    cands = pa.concat_tables([CANDIDATE_SCHEMA.empty_table(), *pieces])
    limits = _limits(cfg, count_tokens, count_chat, tokenizer)
    out = []
    for pieces_of, table_schema in _tables(prep, cands, n_rows, cfg, limits, funnel):
        out.append(
            tables.in_memory(
                pa.concat_tables([table_schema.empty_table(), *(p.cast(table_schema) for p in pieces_of)])
            )
        )
    return BuiltData(sft=out[0], pairs=out[1], funnel=funnel)


def build_training_data(
    cfg: Any,
    count_tokens,
    contamination_texts: list[str] | None,
    cache_dir: Path,
    tokenizer_key: str | None = None,
    count_chat=None,
    tokenizer=None,
) -> BuiltData:
    """D_SFT and D_Pref for ``cfg`` (a data config), built once per distinct input and cached (module docstring).

    ``tokenizer_key`` names the tokenizer the lengths are counted with (required with ``count_tokens``);
    ``tokenizer`` lets the limits skip texts whose bytes already fit (redi.data.lengths). Concurrent callers
    (sweep members) serialise on a file lock; the first builds, the others load its result.
    """
    from redi.infra.cache import building

    rules.check_builder(cfg)
    if count_tokens is not None and not tokenizer_key:
        raise ValueError(
            "build_training_data: tokenizer_key is required with count_tokens (it keys the cache)"
        )
    decontaminate = rules.decontaminates(cfg)
    key, inputs = cache_key(cfg, tokenizer_key if count_tokens is not None else None, contamination_texts,
                            decontaminate)  # fmt: skip
    target = Path(cache_dir) / "data" / key
    stages = Path(cache_dir) / "data-stages"  # the source's parse and the candidates, beside the builds
    with building(target, f"the data build {key}") as work:
        if work is None:
            built = tables.load(target, key)
            log.info("data: cached build %s\n%s", target, format_funnel(built.funnel))
            return built
        prep = prepare(cfg)
        log.info(prep.impl.describe(prep.fmt))
        if not decontaminate:
            log.info("data: no decontamination (%s)", _why_not_decontaminated(cfg))
        cands, n_rows, funnel = _stored_candidates(
            prep, cfg, contamination_texts, stages, inputs, decontaminate
        )
        limits = _limits(cfg, count_tokens, count_chat, tokenizer)
        (sft, sft_schema), (pairs, pairs_schema) = _tables(prep, cands, n_rows, cfg, limits, funnel)
        if funnel.get("sft_rows", 1) == 0 and funnel.get("pair_rows", 1) == 0:
            raise DataError(empty_message(funnel, "sft", prep.source.origin))
        with phase("write tables"):
            tables.write(work / "sft.arrow", sft_schema, sft)
            tables.write(work / "pairs.arrow", pairs_schema, pairs)
        (work / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True, default=str))
        (work / tables.FUNNEL_FILE).write_text(json.dumps(funnel, indent=2))
    log.info("data: built %s from %s\n%s", target, cfg.source, format_funnel(funnel))
    return tables.load(target, key)


def _why_not_decontaminated(cfg: Any) -> str:
    if cfg.builder.decontaminate is None:
        return "the synthetic teacher holds its evaluation problems out by construction"
    return "data.builder.decontaminate=false: training problems that are evaluation problems stay in"


def _stored_candidates(prep, cfg, texts, store: Path, inputs: dict, decontaminate: bool):
    """The candidates stage, cached: (memory-mapped candidates, rows after max_rows, the funnel so far)."""
    from redi.infra.cache import building

    target = store / candidates_key(inputs, prep.fmt, decontaminate)
    with building(target, f"the data candidates {target.name}") as work:
        if work is not None:
            table = read_rows(prep, cfg, store)
            funnel: dict[str, int] = {}
            pieces, n_rows = _candidates(prep, table, cfg, texts, funnel)
            with phase("candidates"):
                stored.store(pieces, work / "rows")
            (work / "stage.json").write_text(json.dumps({"n_rows": n_rows, "funnel": funnel}, indent=2))
    stage = json.loads((target / "stage.json").read_text())
    rows_dir = target / "rows"
    cands = stored.load(rows_dir) if (rows_dir / "parts.json").is_file() else CANDIDATE_SCHEMA.empty_table()
    if not len(cands):
        cands = CANDIDATE_SCHEMA.empty_table()
    return stored.conform(cands, CANDIDATE_SCHEMA), stage["n_rows"], dict(stage["funnel"])
