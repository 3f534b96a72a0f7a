"""TRL's preference format: ``prompt`` / ``chosen`` / ``rejected``, plain text ("standard") or chat messages
("conversational"); without ``prompt`` the prompt is implicit, the longest shared start of chosen and rejected (as
TRL's ``extract_prompt``). The rows already are pairs: D_Pref = every pair; D_SFT = the chosen response of the first
pair of each distinct prompt (after the shuffle). A conversational chosen/rejected must be one assistant message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from redi.data.formats import register
from redi.data.formats.base import DETECTED, DataFormat, Format, Rows, candidate_table
from redi.data.formats.messages import assistant_text, common, prompt_cell, split_implicit, style_of


def normalise(row: dict[str, Any], index: int, fmt: DataFormat, where: str) -> dict[str, Any]:
    """One row as a candidate's columns; DataError names the row and column of a bad cell."""
    chosen, rejected, prompt = row.get("chosen"), row.get("rejected"), row.get("prompt")
    if fmt.implicit_prompt:
        prompt, chosen, rejected = split_implicit(chosen, rejected, where)
    problem, messages = prompt_cell(prompt, f"{where}, column 'prompt'")
    return {
        **common(row, index),
        "problem": problem,
        "prompt_messages": messages,
        "chosen": assistant_text(chosen, f"{where}, column 'chosen'"),
        "rejected": assistant_text(rejected, f"{where}, column 'rejected'"),
    }


@register
class TrlPreference(Format):
    name = "trl_preference"
    columns = ("chosen", "rejected")
    rule = "D_Pref = its pairs, D_SFT = the chosen response of each distinct prompt"
    sft_step = "sft_distinct_prompts"
    sft_distinct_prompts = True
    sft_limits = True

    def detect(self, columns: set[str], row: dict[str, Any]) -> DataFormat | None:
        if not set(self.columns) <= columns:
            return None
        return DataFormat(self.name, style_of(row.get("chosen")), "prompt" not in columns, DETECTED)

    def check_row(self, index: int, row: dict[str, Any], origin: str, fmt: DataFormat) -> None:
        normalise(row, index, fmt, f"{origin}: row {index}")

    def candidates(self, pieces: Iterator[Rows], fmt: DataFormat, cfg: Any) -> Iterator[pa.Table]:
        for rows in pieces:
            for numbers, piece in rows.chunks(["id", "prompt", "chosen", "rejected", "answer"]):
                out = [normalise(r, int(i), fmt, f"{rows.origin}: row {i}")
                       for r, i in zip(piece.to_pylist(), numbers, strict=True)]  # fmt: skip
                yield candidate_table({"row": numbers, **{k: [r[k] for r in out] for k in out[0]}})

    def texts(self, table: pa.Table, fmt: DataFormat) -> Iterator[str]:
        for i, row in enumerate(table.to_pylist()):
            r = normalise(row, i, fmt, f"row {i}")
            yield from (r["problem"], r["chosen"], r["rejected"])
