"""D_SFT and D_Pref as tables: their columns, :class:`BuiltData`, and how a build is saved and loaded.

A table is saved as one Arrow stream file (``sft.arrow``, ``pairs.arrow``) and loaded memory-mapped as a
``datasets.Dataset``, so a table of any size costs disk, not memory; an empty table keeps its columns (a build with
no pairs loads back as an empty pairs table, not an error).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import datasets

SFT_COLUMNS = ("problem_id", "problem", "response", "answer")
PAIR_COLUMNS = ("problem_id", "problem", "chosen", "rejected", "answer")
MESSAGES_COLUMN = "prompt_messages"  # JSON of a conversational prompt's messages ("" for a plain prompt)
FUNNEL_FILE = "funnel.json"


@dataclass
class BuiltData:
    """D_SFT (``sft``), D_Pref (``pairs``), the ordered funnel of counts, and where the build is cached."""

    sft: datasets.Dataset
    pairs: datasets.Dataset
    funnel: dict[str, int]
    path: Path | None = None
    key: str = ""


def schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in columns])


def write(path: Path, table_schema: pa.Schema, pieces: Iterable[pa.Table]) -> None:
    """Write ``pieces`` (in order) as one Arrow stream file, which ``datasets.Dataset.from_file`` maps."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table_schema) as writer:
        for piece in pieces:
            writer.write_table(piece.cast(table_schema), max_chunksize=1024)


def read(path: Path) -> datasets.Dataset:
    """A saved table, memory-mapped."""
    import datasets

    return datasets.Dataset.from_file(str(path), in_memory=False)


def from_columns(columns: dict[str, list[Any]], names: tuple[str, ...]) -> datasets.Dataset:
    """A small in-memory table (string columns) from lists."""
    import datasets

    return datasets.Dataset(pa.Table.from_pydict({c: columns[c] for c in names}, schema=schema(names)))


def in_memory(table: pa.Table) -> datasets.Dataset:
    import datasets

    return datasets.Dataset(table)


def save(work: Path, sft: datasets.Dataset, pairs: datasets.Dataset, funnel: dict[str, int]) -> None:
    """Save a build made in memory (the self-generated data) in the layout :func:`load` reads."""
    for name, table in (("sft", sft), ("pairs", pairs)):
        arrow = table.data.table
        write(work / f"{name}.arrow", arrow.schema, [arrow])
    (work / FUNNEL_FILE).write_text(json.dumps(funnel, indent=2))


def load(target: Path, key: str) -> BuiltData:
    """A saved build."""
    return BuiltData(
        sft=read(target / "sft.arrow"),
        pairs=read(target / "pairs.arrow"),
        funnel=json.loads((target / FUNNEL_FILE).read_text()),
        path=target,
        key=key,
    )


def take(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``column[rows]``, in that order, without joining the column's chunks first.

    Arrow's ``take`` on a chunked string column concatenates all its chunks into one array, whose 32-bit offsets
    overflow once the column holds more than 2 GiB of text (the traces of half of OpenR1-Math-Raw do). Here each
    chunk gives its own rows, and only those (a piece's worth) are joined and put back in the asked order.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = np.cumsum([0, *(len(chunk) for chunk in column.chunks)])
    chunk_of = np.searchsorted(starts, rows, side="right") - 1
    by_chunk = np.argsort(chunk_of, kind="stable")
    chunks, firsts = np.unique(chunk_of[by_chunk], return_index=True)
    pieces = [
        column.chunk(int(k)).take(pa.array(rows[idx] - starts[k]))
        for k, idx in zip(chunks, np.split(by_chunk, firsts[1:]), strict=True)
    ]
    joined = pa.concat_arrays(pieces) if pieces else pa.array([], type=column.type)
    back = np.empty_like(by_chunk)
    back[by_chunk] = np.arange(len(rows))
    return joined.take(pa.array(back))


def pieces_in_order(candidates: pa.Table, order: np.ndarray, columns: dict[str, str], size: int = 1024):
    """``candidates`` rows ``order`` (in that order) renamed ``{candidate column: table column}``, a piece at a time."""
    view = candidates.select(list(dict.fromkeys(columns)))
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        yield pa.Table.from_arrays(
            [take(view.column(src), rows) for src in columns], names=list(columns.values())
        )


def prompts_of(table: datasets.Dataset) -> list[str | list[dict[str, str]]]:
    """The prompt of every built row: its messages when the source was conversational, else its problem text."""
    problems = table["problem"]
    if MESSAGES_COLUMN not in table.column_names:
        return list(problems)
    return [json.loads(m) if m else p for p, m in zip(problems, table[MESSAGES_COLUMN], strict=True)]
