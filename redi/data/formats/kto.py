"""TRL's unpaired preference format (KTO): ``prompt`` / ``completion`` / ``label``, one completion per row, labelled
desirable (true) or undesirable (false); prompt and completion plain text or chat messages.

Mapped onto D_SFT / D_Pref as Open-R1 traces are: a prompt's rows are its traces in file order and the label is the
verdict, so D_SFT = the first desirable completion of each prompt and D_Pref = (its first desirable, its first
undesirable completion) for the prompts that have both. The funnel counts completions_desirable /
completions_undesirable among the kept rows; a candidate's id is its first row's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from redi.data.errors import DataError
from redi.data.formats import register
from redi.data.formats.base import DataFormat, Format, Rows, candidate_table
from redi.data.formats.messages import assistant_text, common, prompt_cell


def normalise(row: dict[str, Any], index: int, where: str) -> dict[str, Any]:
    """One row's prompt, completion and label; DataError names the row and column of a bad cell."""
    problem, messages = prompt_cell(row.get("prompt"), f"{where}, column 'prompt'")
    completion = assistant_text(row.get("completion"), f"{where}, column 'completion'")
    label = row.get("label")
    if not isinstance(label, bool):
        raise DataError(f"{where}, column 'label': expected true (desirable) or false, got {label!r:.40}")
    return {**common(row, index), "problem": problem, "prompt_messages": messages, "completion": completion,
            "label": label}  # fmt: skip


@register
class Kto(Format):
    name = "kto"
    style_column = "prompt"
    columns = ("prompt", "completion", "label")
    rule = (
        "D_SFT = the first desirable completion of each prompt, D_Pref = first desirable vs first undesirable"
    )
    sft_step = "sft_has_desirable"
    pairs_step = "pairs_has_both"
    counts = ("completions_desirable", "completions_undesirable")

    def check_row(self, index: int, row: dict[str, Any], origin: str, fmt: DataFormat) -> None:
        normalise(row, index, f"{origin}: row {index}")

    def candidates(self, pieces: Iterator[Rows], fmt: DataFormat, cfg: Any) -> Iterator[pa.Table]:
        groups: dict[
            tuple[str, str], dict[str, Any]
        ] = {}  # prompt -> its first row, first of each label, counts
        for rows in pieces:
            for numbers, piece in rows.chunks(["id", "prompt", "completion", "label", "answer"]):
                for row, i in zip(piece.to_pylist(), numbers, strict=True):
                    r = normalise(row, int(i), f"{rows.origin}: row {i}")
                    group = groups.setdefault(
                        (r["problem"], r["prompt_messages"]),
                        {**r, "row": int(i), **dict.fromkeys(self.counts, 0)},
                    )
                    group["completions_desirable" if r["label"] else "completions_undesirable"] += 1
                    group.setdefault("chosen" if r["label"] else "rejected", r["completion"])
        out = list(groups.values())
        columns = (
            "row",
            "problem_id",
            "problem",
            "prompt_messages",
            "answer",
            "chosen",
            "rejected",
            *self.counts,
        )
        for start in range(0, len(out), 1024):
            part = out[start : start + 1024]
            yield candidate_table({c: [g.get(c) for g in part] for c in columns}, self.counts)

    def rows_of(self, cands: pa.Table) -> np.ndarray:
        return sum(cands.column(c).to_numpy() for c in self.counts)

    def texts(self, table: pa.Table, fmt: DataFormat) -> Iterator[str]:
        for batch in table.to_batches(max_chunksize=1024):
            for row in batch.to_pylist():
                yield (
                    row["prompt"]
                    if isinstance(row["prompt"], str)
                    else prompt_cell(row["prompt"], "prompt")[0]
                )
                yield assistant_text(row["completion"], "completion")
