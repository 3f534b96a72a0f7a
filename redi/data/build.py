"""D_SFT and D_Pref for a data config, read top to bottom: sources -> formats -> rules -> tables.

1. the source (redi.data.sources): a local file, folder or glob of shards, a hub dataset or the synthetic teacher;
   its fingerprint keys the cache, its first row tells the format; its rows come a piece at a time;
2. the format (redi.data.formats): ``data.format`` or the one detected from the columns; it checks every row
   (naming the first bad row and column) and turns the kept rows into candidates;
3. the rules (redi.data.rules): max_rows, the format's own, drop_sources, decontamination, the paper's shuffle,
   the token limits, each counted into the funnel (redi.data.funnel);
4. the tables (redi.data.tables): D_SFT and D_Pref saved as memory-mapped Arrow files.

:func:`build_training_data` caches the build in ``<cache>/data/<key>/`` and, on the way, its candidates stage
(every row read, checked, filtered and turned into candidates, decontaminated) in
``<cache>/data-stages/cands-<key>/``, each published whole under a lock: a killed build restarts from the last stage
it finished, and builds that differ only in the token limits, the tokenizer or the shuffle share the candidates.
Rows flow as Arrow tables a piece at a time and candidates are written to disk as they come, so memory stays
bounded whatever the data's size. Each stage logs a start and an end line, and counting tokens logs progress.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from redi.data import formats, rules, tables
from redi.data.build_key import cache_key, candidates_key
from redi.data.errors import DataError
from redi.data.formats.base import CANDIDATE_SCHEMA, DataFormat, Format, Rows
from redi.data.funnel import empty_message, format_funnel
from redi.data.lengths import counters, workers
from redi.data.sources import Source, open_source, stored
from redi.data.tables import MESSAGES_COLUMN, PAIR_COLUMNS, SFT_COLUMNS, BuiltData
from redi.infra.progress import phase

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
        openr1 = DataFormat("openr1", how="the synthetic teacher")
        return Prepared(source, openr1, formats.get_format("openr1"))
    if table is None:
        columns, row = source.first_row()
    else:
        columns, row = table.column_names, (table.slice(0, 1).to_pylist() or [{}])[0]
    fmt = formats.resolve(name, columns, row, source.origin)
    return Prepared(source, fmt, formats.get_format(fmt.name))


def _pieces(prep: Prepared, cfg: Any, table: pa.Table | None):
    """The source's pieces (or ``table`` as one), each checked by the format as it is read."""
    impl, fmt = prep.impl, prep.fmt

    def check(index: int, row: dict[str, Any], origin: str) -> None:
        impl.check_row(index, row, origin, fmt)

    if table is not None:
        yield table, prep.source.origin, 0
        return
    for piece in prep.source.pieces(check):
        yield piece.table, piece.origin, piece.start


def read_rows(prep: Prepared, cfg: Any, table: pa.Table | None = None) -> Iterator[tuple[pa.Table, str, int]]:
    """(rows, where, first row number there) of every piece of the source, checked by the format."""
    for rows, origin, start in _pieces(prep, cfg, table):
        prep.impl.check_table(rows, origin, prep.fmt, cfg, start)
        yield rows, origin, start


def load_rows(cfg: Any):
    """The checked rows of ``cfg``'s source as one ``datasets.Dataset`` (for tools and tests; no cache)."""
    rules.check_builder(cfg)
    prep = prepare(cfg)
    return tables.in_memory(stored.concat([t for t, _, _ in read_rows(prep, cfg)], prep.source.origin))


class TextStream:
    """Every prompt and response text of a data config, read a piece at a time (``rows``: rows read so far)."""

    def __init__(self, cfg: Any) -> None:
        self.cfg, self.rows = cfg, 0

    def __iter__(self) -> Iterator[str]:
        prep = prepare(self.cfg)
        for table, _, _ in read_rows(prep, self.cfg):
            self.rows += len(table)
            yield from prep.impl.texts(table, prep.fmt)


def tokenizer_texts(cfg: Any) -> TextStream:
    """The texts to train the tiny model's tokenizer from scratch on: streamed, so memory holds one piece."""
    return TextStream(cfg)


# ---------------------------------------------------------------------------------------------------------------
# the stages


def _row_pieces(prep: Prepared, cfg: Any, table: pa.Table | None, funnel: dict[str, int]) -> Iterator[Rows]:
    """Every piece read, checked, cut to max_rows and through the row rules (counts added into ``funnel``)."""
    max_rows = cfg.builder.max_rows
    offset = 0
    funnel.update(rows_loaded=0, rows_max_rows=0)
    for rows, origin, _start in read_rows(prep, cfg, table):
        funnel["rows_loaded"] += len(rows)
        kept_rows = rows if max_rows is None else rows.slice(0, max(0, max_rows - offset))
        funnel["rows_max_rows"] += len(kept_rows)
        kept = rules.row_rules(prep.impl, kept_rows, cfg, funnel)
        yield Rows(kept_rows, kept, offset, origin)
        offset += len(kept_rows)


def _candidates(prep: Prepared, cfg: Any, texts, table, store: Path | None):
    """(candidates, which survive decontamination, rows after max_rows, the funnel so far): the candidates stage,
    written to ``store`` as it goes when given (else kept in memory)."""
    funnel: dict[str, int] = {}
    with phase("read, check and select rows"):
        pieces = prep.impl.candidates(_row_pieces(prep, cfg, table, funnel), prep.fmt, cfg)
        if store is not None:
            stored.store(pieces, store)
            cands = stored.load(store)
        else:
            cands = pa.concat_tables([_empty_candidates(prep.impl), *pieces])
    cands = (
        stored.conform(cands, _empty_candidates(prep.impl).schema)
        if len(cands)
        else _empty_candidates(prep.impl)
    )
    with phase("decontaminate"):
        index = rules.contamination_index(cfg, texts)
        processes = workers(int(getattr(cfg, "num_workers", 0) or 0))
        alive = rules.decontaminated(prep.impl, cands, index, processes, funnel)
    for step in prep.impl.counts:  # the format's own counts, over the rows decontamination kept
        funnel[step] = int(cands.column(step).to_numpy()[alive].sum()) if len(cands) else 0
    return cands, alive, funnel["rows_max_rows"], funnel


def _empty_candidates(impl: Format) -> pa.Table:
    return pa.schema([*CANDIDATE_SCHEMA, *((c, pa.int64()) for c in impl.counts)]).empty_table()


def _stored_candidates(prep: Prepared, cfg: Any, texts, stages: Path, inputs: dict, decontaminate: bool):
    """The candidates stage, cached under ``stages`` (memory-mapped when read back)."""
    from redi.infra.cache import building

    target = stages / candidates_key(inputs, prep.fmt, decontaminate)
    with building(target, f"the data candidates {target.name}") as work:
        if work is not None:
            cands, alive, n_rows, funnel = _candidates(prep, cfg, texts, None, work / "rows")
            np.save(work / "alive.npy", alive)
            (work / "stage.json").write_text(json.dumps({"n_rows": n_rows, "funnel": funnel}, indent=2))
            del cands
    stage = json.loads((target / "stage.json").read_text())
    cands = stored.load(target / "rows")
    cands = (
        stored.conform(cands, _empty_candidates(prep.impl).schema)
        if len(cands)
        else _empty_candidates(prep.impl)
    )
    return cands, np.load(target / "alive.npy"), stage["n_rows"], dict(stage["funnel"])


def _limits(cfg: Any, count_tokens, count_chat, tokenizer) -> rules.Limits | None:
    if count_tokens is None:
        return None
    user, assistant = counters(cfg.builder.length_count, count_tokens, count_chat, tokenizer)
    return rules.Limits(user, assistant, workers(int(getattr(cfg, "num_workers", 0) or 0)))


def _tables(prep: Prepared, cands: pa.Table, alive: np.ndarray, n_rows: int, cfg: Any, limits, funnel):
    """((sft pieces, schema), (pairs pieces, schema)) in the shuffled order, within the token limits."""
    with phase("shuffle and token limits"):
        sft, pairs = rules.select(cands, alive, prep.impl, n_rows, cfg, limits, funnel)
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


# ---------------------------------------------------------------------------------------------------------------
# the build


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
    cands, alive, n_rows, funnel = _candidates(prep, cfg, contamination_texts, table, None)
    limits = _limits(cfg, count_tokens, count_chat, tokenizer)
    out = []
    for pieces, schema in _tables(prep, cands, alive, n_rows, cfg, limits, funnel):
        out.append(
            tables.in_memory(pa.concat_tables([schema.empty_table(), *(p.cast(schema) for p in pieces)]))
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
    tok_key = tokenizer_key if count_tokens is not None else None
    key, inputs = cache_key(cfg, tok_key, contamination_texts, decontaminate)
    target = Path(cache_dir) / "data" / key
    stages = Path(cache_dir) / "data-stages"  # the candidates stage, beside the builds
    with building(target, f"the data build {key}") as work:
        if work is None:
            built = tables.load(target, key)
            log.info("data: cached build %s\n%s", target, format_funnel(built.funnel))
            return built
        prep = prepare(cfg)
        log.info(prep.impl.describe(prep.fmt))
        if not decontaminate:
            log.info("data: no decontamination (%s)", _why_not_decontaminated(cfg))
        cands, alive, n_rows, funnel = _stored_candidates(prep, cfg, contamination_texts, stages, inputs,
                                                          decontaminate)  # fmt: skip
        limits = _limits(cfg, count_tokens, count_chat, tokenizer)
        (sft, sft_schema), (pairs, pairs_schema) = _tables(prep, cands, alive, n_rows, cfg, limits, funnel)
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
