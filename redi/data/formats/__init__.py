"""The data formats: a registry filled by the ``@register`` of every module in this folder (found by pkgutil).

``data.format`` names one (``auto``, the default, detects it from the columns after ``data.column_map``: the format
whose identifying columns are all present and most numerous wins). Each module is one format: ``openr1`` (the
paper's traces and verdict rules), ``trl_preference``, ``trl_prompt_completion``, ``kto`` (TRL's unpaired format).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, TypeVar

from redi.data.errors import DataError
from redi.data.formats.base import DETECTED, DataFormat, Format

FORMATS: dict[str, Format] = {}
AUTO = "auto"
F = TypeVar("F", bound=type[Format])


def register(cls: F) -> F:
    """Class decorator: make the format ``cls.name`` available to ``data.format`` and to detection."""
    if cls.name in FORMATS or cls.name == AUTO:
        raise ValueError(f"data format {cls.name!r} registered twice")
    FORMATS[cls.name] = cls()
    return cls


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


def names() -> tuple[str, ...]:
    """What ``data.format`` accepts."""
    return (AUTO, *sorted(FORMATS))


def get_format(name: str) -> Format:
    """The registered format ``name``; DataError naming the known ones."""
    if name not in FORMATS:
        raise DataError(f"data.format={name!r}: not one of {list(names())}")
    return FORMATS[name]


def detect(columns: Any, row: dict[str, Any], origin: str) -> DataFormat:
    """The format of rows with these columns (and this first row); DataError naming what was found."""
    cols = set(columns)
    found = [(len(FORMATS[f.name].columns), f) for fmt in FORMATS.values() if (f := fmt.detect(cols, row))]
    if not found:
        known = "; ".join(f"{f.name} ({', '.join(f.columns)})" for f in FORMATS.values())
        raise DataError(
            f"{origin}: cannot tell the data format from the columns {sorted(cols)}; expected one of: {known}. "
            "Rename columns with data.column_map or set data.format"
        )
    best = max(n for n, _ in found)
    winners = [f for n, f in found if n == best]
    if len(winners) > 1:
        raise DataError(
            f"{origin}: the columns {sorted(cols)} fit the formats {[f.name for f in winners]}; set data.format"
        )
    return winners[0]


def resolve(name: str, columns: Any, row: dict[str, Any], origin: str) -> DataFormat:
    """``data.format`` (``auto`` or a name) resolved against the data's columns and first row."""
    if name == AUTO:
        return detect(columns, row, origin)
    return get_format(name).resolve(set(columns), row, origin)


_discover()
__all__ = ["AUTO", "DETECTED", "FORMATS", "DataFormat", "Format", "detect", "get_format", "names", "register"]
