"""What a data format is: how it is recognised, how its rows are checked, and how they become candidates.

A format turns the source's rows into *candidates*, one per problem or prompt, in the columns of
:data:`CANDIDATE_SCHEMA`: the source row it came from (``row``, for the paper's shuffle), its id, problem text,
conversational prompt (JSON, or ""), gold answer, and a ``chosen`` and ``rejected`` response (null when it has
none). The rules (redi.data.rules) then make D_SFT from the candidates with a chosen response and D_Pref from those
with both, the same way for every format. A new format is one module in this folder with one
``@register`` class (redi.data.formats finds it); nothing else names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from redi.data.errors import DataError
from redi.data.formats.messages import style_of

CANDIDATE_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("problem_id", pa.string()),
        ("problem", pa.string()),
        ("prompt_messages", pa.string()),
        ("answer", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
    ]
)
DETECTED = "detected from the columns"


@dataclass(frozen=True)
class DataFormat:
    """A resolved format: its name, style ("standard" | "conversational" | ""), implicit prompt, how it was chosen."""

    name: str
    style: str = ""
    implicit_prompt: bool = False
    how: str = "data.format"  # data.format | detected from the columns | the synthetic teacher

    @property
    def detected(self) -> bool:
        return self.how.startswith("detected")


@dataclass
class Rows:
    """Some of the source's rows a format reads: ``table`` (a piece, after column_map and max_rows), the kept row
    numbers in it, the piece's first row number in the source (``offset``) and where the piece is (for messages)."""

    table: pa.Table
    kept: np.ndarray  # int64 indices into table, ascending
    offset: int = 0
    origin: str = ""

    def chunks(self, columns: list[str], size: int = 512) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """(row numbers in the source, those rows' ``columns``) ``size`` rows at a time."""
        present = [c for c in columns if c in self.table.column_names]
        view = self.table.select(present)
        for start in range(0, len(self.kept), size):
            rows = self.kept[start : start + size]
            yield rows + self.offset, view.take(pa.array(rows))


class Format:
    """The interface every format implements (class attributes describe it; methods do the work)."""

    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]  # the columns that identify it; the most specific match wins detection
    rule: ClassVar[str]  # one line: what D_SFT and D_Pref are made of
    sft_step: ClassVar[str | None] = None  # the funnel's name for the candidates with a chosen response
    pairs_step: ClassVar[str | None] = None  # ... and for those with both (None: no such step)
    has_pairs: ClassVar[bool] = True
    sft_distinct_prompts: ClassVar[bool] = (
        False  # D_SFT keeps the first candidate of each prompt (after the shuffle)
    )
    sft_limits: ClassVar[bool | None] = (
        None  # D_SFT under the token limits: None = data.builder.sft_length_limits
    )
    keeps_messages: ClassVar[bool] = True
    style_column: ClassVar[str | None] = None  # the column whose cell says "standard" or "conversational"
    counts: ClassVar[
        tuple[str, ...]
    ] = ()  # funnel steps counted per candidate (summed over the kept ones)  # D_SFT / D_Pref carry the prompt_messages column

    def detect(self, columns: set[str], row: dict[str, Any]) -> DataFormat | None:
        """The resolved format when ``columns`` (and the first row) are this format's, else None; its style read
        from the first row's ``style_column``."""
        if not set(self.columns) <= columns:
            return None
        style = style_of(row.get(self.style_column)) if self.style_column else ""
        return DataFormat(self.name, style, how=DETECTED)

    def resolve(self, columns: set[str], row: dict[str, Any], origin: str) -> DataFormat:
        """This format named by ``data.format``: the columns must be its own."""
        found = self.detect(columns, row)
        if found is None:
            raise DataError(
                f"data.format={self.name}: {origin} has columns {sorted(columns)}, expected "
                f"{', '.join(self.columns)}; rename columns with data.column_map"
            )
        return DataFormat(found.name, found.style, found.implicit_prompt)

    def describe(self, fmt: DataFormat) -> str:
        """The log line saying which format was used and how it becomes D_SFT / D_Pref."""
        details = ", ".join(x for x in (fmt.style, "implicit prompt" if fmt.implicit_prompt else "") if x)
        how = f"{details}; {fmt.how}" if details else fmt.how
        return f"data format: {self.name} ({how}); {self.rule}"

    def check_row(self, index: int, row: dict[str, Any], origin: str, fmt: DataFormat) -> None:
        """Raise DataError naming ``origin``, the row index and the column of a bad row."""
        raise NotImplementedError

    def check_table(self, table: pa.Table, origin: str, fmt: DataFormat, cfg: Any, start: int = 0) -> None:
        """Check every row of a piece whose first row is row ``start`` of ``origin`` (by default through
        :meth:`check_row`, a row at a time)."""
        for first in range(0, len(table), 2048):
            for k, row in enumerate(table.slice(first, 2048).to_pylist()):
                self.check_row(start + first + k, row, origin, fmt)

    def filters(self, table: pa.Table, cfg: Any) -> list[tuple[str, np.ndarray]]:
        """The format's own row rules, before the generic ones: (funnel step, keep mask over ``table``)."""
        return []

    def candidates(self, pieces: Iterator[Rows], fmt: DataFormat, cfg: Any) -> Iterator[pa.Table]:
        """The kept rows of every piece as candidates (:data:`CANDIDATE_SCHEMA`, plus an int64 column for each
        of :attr:`counts`), a piece at a time."""
        raise NotImplementedError

    def rows_of(self, cands: pa.Table) -> np.ndarray:
        """How many source rows each candidate stands for (one, unless the format groups rows)."""
        return np.ones(len(cands), dtype=np.int64)

    def texts(self, table: pa.Table, fmt: DataFormat) -> Iterator[str]:
        """Every prompt and response text of the rows (to train a tokenizer from scratch)."""
        raise NotImplementedError


def candidate_table(columns: dict[str, Any], counts: tuple[str, ...] = ()) -> pa.Table:
    """A piece of candidates from column arrays or lists (missing responses as None), with its count columns."""
    schema = pa.schema([*CANDIDATE_SCHEMA, *((c, pa.int64()) for c in counts)])
    return pa.Table.from_pydict({f.name: columns[f.name] for f in schema}, schema=schema)
