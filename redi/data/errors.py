"""The data package's one error type: bad data or a data setting, named as the user typed it."""

from __future__ import annotations


class DataError(ValueError):
    """Bad training data or data configuration; the message names the key, file or dataset, row and column."""
