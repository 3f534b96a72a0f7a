"""``data.column_map``: the source's column names -> the format's, on Arrow tables and on single rows.

A dotted key reads a struct field (OpenR1-Math-Raw keeps its verdicts in ``correctness``:
``correctness.llama_verification: correctness_llama``).
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from redi.data.errors import DataError

log = logging.getLogger(__name__)


def _flatten(table: pa.Table, depth: int) -> pa.Table:
    for _ in range(depth):
        if not any(pa.types.is_struct(f.type) for f in table.schema):
            break
        table = table.flatten()
    return table


def map_columns(table: pa.Table, column_map: dict[str, str], origin: str) -> pa.Table:
    """Rename ``table``'s columns by ``column_map``; a mapped name that already exists is replaced, loudly."""
    if not column_map:
        return table
    depth = max(k.count(".") for k in column_map)
    if depth:
        table = _flatten(table, depth)
    present = table.column_names
    missing = [k for k in column_map if k not in present]
    if missing:
        raise DataError(
            f"{origin}: data.column_map names column(s) {missing} that are not in the data; present: {present}"
        )
    targets = list(column_map.values())
    dup = sorted({t for t in targets if targets.count(t) > 1})
    if dup:
        raise DataError(f"data.column_map: several columns map to {dup}")
    clash = [t for t in targets if t in present and t not in column_map]
    if clash:  # the old column of that name would shadow the mapped one: drop it, loudly
        log.warning("%s: column(s) %s replaced by data.column_map", origin, clash)
        table = table.drop_columns(clash)
    return table.rename_columns([column_map.get(c, c) for c in table.column_names])


def map_row(row: dict[str, Any], column_map: dict[str, str]) -> dict[str, Any]:
    """One row (a dict) renamed as :func:`map_columns` renames a table."""

    def get(dotted: str) -> Any:
        value: Any = row
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    out = {k: v for k, v in row.items() if k not in column_map.values()}
    for src, dst in column_map.items():
        out[dst] = get(src)
    return out
