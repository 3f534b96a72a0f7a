"""Pieces of one source as one Arrow table: schemas unified, kept in memory or stored as memory-mapped files.

Arrow infers each piece's types on its own (a column null in the first thousand rows and a list later), so the
pieces are unified at the end (``promote_options="permissive"``) and each is conformed to the unified schema as it
is read back. Stored pieces (``part-NNNNN.arrow``, Arrow IPC) are memory-mapped: a source of any size costs disk,
not memory, and a second reader (another process, a later build) maps the same files instead of parsing again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa

from redi.data.errors import DataError

SCHEMA_FILE = "schema.arrow"


def unify(schemas: list[pa.Schema], origin: str) -> pa.Schema:
    """One schema every piece can be cast to; DataError naming the columns whose types disagree."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError(
            f"{origin}: a column holds values of different types in different rows: {e}"
        ) from None


def _has_null(t: pa.DataType) -> bool:
    return pa.types.is_null(t) or any(_has_null(t.field(i).type) for i in range(t.num_fields))


def _column(table: pa.Table, field: pa.Field) -> pa.ChunkedArray:
    if field.name not in table.column_names:
        return pa.chunked_array([pa.nulls(len(table), field.type)], field.type)
    column = table.column(field.name)
    if column.type.equals(field.type):
        return column
    if _has_null(column.type):  # Arrow's cast from a nested null type can write invalid offsets: rebuild it
        return pa.chunked_array([pa.array(column.to_pylist(), type=field.type)], field.type)
    return column.cast(field.type)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order (a column it lacks is all null), cast to its types."""
    if table.schema.equals(schema):
        return table
    return pa.Table.from_arrays([_column(table, f) for f in schema], schema=schema)


def concat(pieces: list[pa.Table], origin: str) -> pa.Table:
    """The pieces as one table (zero-copy where their types already agree)."""
    if not pieces:
        raise DataError(f"{origin}: no rows")
    schema = unify([p.schema for p in pieces], origin)
    try:
        return pa.concat_tables([conform(p, schema) for p in pieces])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise DataError(f"{origin}: the rows' columns cannot be read as one table: {e}") from None


def store(
    pieces: Iterable[pa.Table], directory: Path, on_piece: Callable[[pa.Table], None] | None = None
) -> None:
    """Write the pieces to ``directory`` as part files and their unified schema (read back with :func:`load`)."""
    directory.mkdir(parents=True, exist_ok=True)
    schemas: list[pa.Schema] = []
    for i, piece in enumerate(pieces):
        path = str(directory / f"part-{i:05d}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, piece.schema) as writer:
            writer.write_table(piece, max_chunksize=8192)
        schemas.append(piece.schema)
        if on_piece is not None:
            on_piece(piece)
    schema = unify(schemas, str(directory)) if schemas else pa.schema([])
    with pa.OSFile(str(directory / SCHEMA_FILE), "wb") as sink:
        sink.write(schema.serialize())
    (directory / "parts.json").write_text(json.dumps({"parts": len(schemas)}))


def load(directory: Path) -> pa.Table:
    """The stored pieces as one memory-mapped table."""
    schema = pa.ipc.read_schema(pa.py_buffer((directory / SCHEMA_FILE).read_bytes()))
    parts = json.loads((directory / "parts.json").read_text())["parts"]
    tables = []
    for i in range(parts):
        source = pa.memory_map(str(directory / f"part-{i:05d}.arrow"), "r")
        tables.append(conform(pa.ipc.open_file(source).read_all(), schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()
