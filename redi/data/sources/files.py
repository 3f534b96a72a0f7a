"""A local data file -> Arrow tables, in one bounded pass that also refuses a file no parser should see.

JSON lines are read a line at a time with at most ``data.max_row_mb`` per line held (a larger line is refused
before it is held whole), each line checked to be UTF-8, and handed to Arrow's JSON parser in pieces of about
``CHUNK_BYTES``; a piece Arrow refuses is read again in Python to name the line (not JSON, not an object) and,
when ``check_rows`` is given, the format's first bad row and column. A JSON array (a ``.json`` file starting with
``[``) is parsed whole. Parquet is read a row group at a time. Every piece is an Arrow table: the caller keeps it
in memory or writes it to disk (redi.data.sources.stored), so no file is ever held as Python strings.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from redi.data.errors import DataError

CHUNK_BYTES = 32 * 2**20  # JSON lines handed to Arrow at a time
RowCheck = Callable[[int, dict[str, Any]], None]  # (row index in the file, row) -> raises DataError


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def size_text(path: Path) -> str:
    n = Path(path).stat().st_size
    return f"{n} bytes" if n < 2**20 else _mb(n)


def check_file_size(path: Path, max_file_mb: float) -> None:
    """Refuse a file larger than ``data.max_file_mb`` or an empty parquet file, before reading it."""
    size = path.stat().st_size
    if size > max_file_mb * 2**20:
        raise DataError(
            f"{path}: {_mb(size)}, more than data.max_file_mb={max_file_mb:g}; raise data.max_file_mb "
            "if the file is meant to be this big"
        )
    if size == 0 and path.suffix.lower() == ".parquet":
        raise DataError(f"{path}: the file is empty (0 bytes)")


def read_file(
    path: Path, *, max_row_mb: float, answer_key: str = "answer", check_rows: RowCheck | None = None
) -> Iterator[pa.Table]:
    """The file's rows as Arrow tables, in file order (see the module docstring for the checks)."""
    if path.suffix.lower() == ".parquet":
        yield from _read_parquet(path)
        return
    yield from _read_json_lines(path, max_row_mb, answer_key, check_rows)


def _read_parquet(path: Path) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{path}: could not read the parquet file: {e}") from e


def _decode(path: Path, lineno: int, line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: line {lineno}, byte {e.start + 1}: not UTF-8 ({line[e.start : e.start + 4]!r}); "
            "save the file as UTF-8"
        ) from None


def _lines(path: Path, max_row_mb: float) -> Iterator[tuple[int, bytes, str]]:
    """(line number, bytes, text) of every non-blank line; a line over ``max_row_mb`` or not UTF-8 is refused."""
    limit = int(max_row_mb * 2**20)
    with open(path, "rb") as f:
        lineno = 0
        while line := f.readline(limit + 1):
            lineno += 1
            if len(line) > limit and not line.endswith(b"\n"):
                raise DataError(
                    f"{path}: line {lineno} is longer than data.max_row_mb={max_row_mb:g} ({_mb(limit)}); one "
                    "row that large would exhaust memory in tokenisation. Raise data.max_row_mb if rows are "
                    "meant to be this long"
                )
            text = _decode(path, lineno, line)
            if text.strip():
                yield lineno, line, text


def _empty(path: Path) -> DataError:
    return DataError(
        f"{path}: the file is empty ({size_text(path)}): expected JSON objects, one per line, or a JSON array"
    )


def _read_json_lines(
    path: Path, max_row_mb: float, answer_key: str, check_rows: RowCheck | None
) -> Iterator[pa.Table]:
    piece: list[tuple[int, bytes]] = []  # (line number, line) not yet parsed
    size = rows = 0
    schema: list[pa.Schema | None] = [None]  # the types so far: later pieces are parsed with them
    for lineno, line, text in _lines(path, max_row_mb):
        if rows == 0 and not piece and text.lstrip().startswith("["):
            yield _read_json_array(path, check_rows)
            return
        piece.append((lineno, line))
        size += len(line)
        if size >= CHUNK_BYTES:
            yield _parse_piece(path, piece, rows, answer_key, check_rows, schema)
            rows += len(piece)
            piece, size = [], 0
    if piece:
        yield _parse_piece(path, piece, rows, answer_key, check_rows, schema)
        rows += len(piece)
    if rows == 0:
        raise _empty(path)


def _parse_piece(
    path: Path,
    piece: list[tuple[int, bytes]],
    first_row: int,
    answer_key: str,
    check_rows: RowCheck | None,
    schema: list[pa.Schema | None],
) -> pa.Table:
    """Some JSON lines as a table, with the types of the pieces before (``schema[0]``, widened here).

    Arrow's JSON parser runs only with types given: inferring them, Arrow 26 misreads a list column that begins
    null and holds nulls ([null, [null, false]] -> [null, [false, true]]). So the first piece, and any piece with
    a column or type not seen before, is parsed by Python, which also names the line or row of bad data.
    """
    import pyarrow.json as pj

    table = None
    if schema[0] is not None:
        data = b"".join(line if line.endswith(b"\n") else line + b"\n" for _, line in piece)
        longest = max(len(line) for _, line in piece)
        read = pj.ReadOptions(block_size=max(1 << 20, 2 * longest + 1024), use_threads=True)
        parse = pj.ParseOptions(explicit_schema=_typed(schema[0]), unexpected_field_behavior="error")
        try:
            table = pj.read_json(io.BytesIO(data), read_options=read, parse_options=parse)
        except pa.ArrowException:
            table = None  # a new column, another type, or bad data: Python's parse says which
        if table is not None and not all(_offsets_ok(c) for col in table.columns for c in col.chunks):
            table = None
        if table is not None and answer_key in table.column_names and table.column(answer_key).null_count:
            _python_rows(path, piece, answer_key)  # a null answer, or rows without the field (allowed)
    if table is None:
        rows = _python_rows(path, piece, answer_key)
        try:
            table = rows_table(rows)
        except (pa.ArrowException, TypeError) as arrow_error:
            if check_rows is not None:
                for k, row in enumerate(rows):
                    check_rows(first_row + k, row)
            raise DataError(
                f"{path}: rows pass the checks but Arrow could not load them: {arrow_error}"
            ) from None
        # types that do not unify are refused, naming the column, when the pieces are put together
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError):
            schema[0] = (
                table.schema
                if schema[0] is None
                else pa.unify_schemas([schema[0], table.schema], promote_options="permissive")
            )
    return table


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Row dicts as a table with every key any row has (``Table.from_pylist`` takes the first row's keys only)."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return pa.Table.from_pydict({k: [row.get(k) for row in rows] for k in keys})


def _typed(schema: pa.Schema) -> pa.Schema:
    """``schema`` without the fields whose type holds ``null`` anywhere (Arrow would read any value there as null,
    silently): a piece that has values for them is parsed by Python and widens the schema."""

    def has_null(t: pa.DataType) -> bool:
        if pa.types.is_null(t):
            return True
        return any(has_null(t.field(i).type) for i in range(t.num_fields)) if t.num_fields else False

    return pa.schema([f for f in schema if not has_null(f.type)])


def _offsets_ok(array: pa.Array) -> bool:
    """Whether every list in ``array`` (nested in lists and structs too) has offsets within its values."""
    if pa.types.is_struct(array.type):
        return all(_offsets_ok(array.field(i)) for i in range(array.type.num_fields))
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        return True
    offsets = array.offsets.to_numpy()
    values = array.values
    if len(offsets) and (offsets[0] < 0 or offsets[-1] > len(values) or (np.diff(offsets) < 0).any()):
        return False
    return _offsets_ok(values)


def _python_rows(path: Path, piece: list[tuple[int, bytes]], answer_key: str) -> list[dict[str, Any]]:
    """The lines parsed by Python's json, naming the first that is not a JSON object or has a null answer."""
    rows = []
    for lineno, line in piece:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno} is not valid JSON (column {e.colno}: {e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object, got {type(row).__name__}")
        if answer_key in row and row[answer_key] is None:
            raise DataError(f"{path}: line {lineno}, field {answer_key!r}: null (every row needs an answer)")
        rows.append(row)
    return rows


def _json_array(path: Path) -> list[dict[str, Any]]:
    """The row objects of a file holding one JSON array (read whole: such files are small by nature)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON array of row objects, got {type(rows).__name__}")
    if not rows:
        raise DataError(f"{path}: the file is empty (an empty JSON array)")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError(
            f"{path}: missing column(s): row {bad} is {type(rows[bad]).__name__} {rows[bad]!r:.40}, not an object "
            "with named columns"
        )
    return rows


def _read_json_array(path: Path, check_rows: RowCheck | None) -> pa.Table:
    rows = _json_array(path)
    try:
        return rows_table(rows)
    except (pa.ArrowException, TypeError) as arrow_error:
        if check_rows is not None:
            for i, row in enumerate(rows):
                check_rows(i, row)
        raise DataError(
            f"{path}: rows pass the checks but Arrow could not load them: {arrow_error}"
        ) from None


def first_row(path: Path, *, max_row_mb: float) -> dict[str, Any]:
    """The file's first row, read without reading the rest (for telling its format), checked as the reader checks."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
            rows = parquet.read_row_group(0).slice(0, 1).to_pylist() if parquet.num_row_groups else []
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{path}: could not read the parquet file: {e}") from e
        if not rows:
            raise DataError(f"{path}: the file is empty (no rows)")
        return rows[0]
    for lineno, line, text in _lines(path, max_row_mb):
        if text.lstrip().startswith("["):
            return _json_array(path)[0]
        return _python_rows(path, [(lineno, line)], answer_key="")[0]
    raise _empty(path)
