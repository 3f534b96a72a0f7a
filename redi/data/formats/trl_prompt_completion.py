"""TRL's prompt-completion format (``prompt`` / ``completion``), for SFT: D_SFT = every row; it has no pairs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from redi.data.formats import register
from redi.data.formats.base import DataFormat, Format, Rows, candidate_table
from redi.data.formats.messages import assistant_text, common, prompt_cell


def normalise(row: dict[str, Any], index: int, where: str) -> dict[str, Any]:
    """One row as a candidate's columns (no rejected response); DataError names the row and column."""
    problem, messages = prompt_cell(row.get("prompt"), f"{where}, column 'prompt'")
    completion = assistant_text(row.get("completion"), f"{where}, column 'completion'")
    return {**common(row, index), "problem": problem, "prompt_messages": messages, "chosen": completion,
            "rejected": None}  # fmt: skip


@register
class TrlPromptCompletion(Format):
    name = "trl_prompt_completion"
    style_column = "prompt"
    columns = ("prompt", "completion")
    rule = "D_SFT = its completions, no pairs"
    has_pairs = False
    sft_limits = True

    def check_row(self, index: int, row: dict[str, Any], origin: str, fmt: DataFormat) -> None:
        normalise(row, index, f"{origin}: row {index}")

    def candidates(self, pieces: Iterator[Rows], fmt: DataFormat, cfg: Any) -> Iterator[pa.Table]:
        for rows in pieces:
            for numbers, piece in rows.chunks(["id", "prompt", "completion", "answer"]):
                out = [normalise(r, int(i), f"{rows.origin}: row {i}")
                       for r, i in zip(piece.to_pylist(), numbers, strict=True)]  # fmt: skip
                yield candidate_table({"row": numbers, **{k: [r[k] for r in out] for k in out[0]}})

    def texts(self, table: pa.Table, fmt: DataFormat) -> Iterator[str]:
        for i, row in enumerate(table.to_pylist()):
            r = normalise(row, i, f"row {i}")
            yield from (r["problem"], r["chosen"])
