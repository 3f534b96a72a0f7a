"""Open-R1 traces (OpenR1-Math-220k / -Raw, and the synthetic teacher) and the paper's verdict rules.

One row per problem with ``problem``, ``answer``, optional ``source``, ``uuid``, ``problem_is_valid``, and aligned
per-trace lists ``generations``, ``correctness_math_verify``, ``correctness_llama``, ``is_reasoning_complete``,
``finish_reasons`` (plus ``error_types`` from the synthetic teacher). OpenR1-Math-Raw keeps its verdicts in a struct
column ``correctness``; a dotted ``data.column_map`` key reaches into it.

Rules of this format (the generic ones are in redi.data.rules): rows_valid (``problem_is_valid`` == "yes",
case-insensitive, when ``require_valid`` and the column exists); per trace, the verdicts (:func:`trace_correct`) and
``require_complete``; a candidate's chosen = the first correct trace, rejected = the first incorrect one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from redi.data.errors import DataError
from redi.data.formats import register
from redi.data.formats.base import DataFormat, Format, Rows, candidate_table

log = logging.getLogger(__name__)

BASE_COLUMNS = ("problem", "answer", "generations")
VERDICT_COLUMNS = {"math_verify": "correctness_math_verify", "llama": "correctness_llama"}
# per-trace lists that must line up with ``generations`` when present
ALIGNED_COLUMNS = ("correctness_math_verify", "correctness_llama", "is_reasoning_complete", "finish_reasons",
                   "error_types")  # fmt: skip
BOOL_LIST_COLUMNS = ("correctness_math_verify", "correctness_llama", "is_reasoning_complete")
VERIFIERS = ("both", "math_verify", "llama")
NULL_RULES = ("other", "incorrect")
TRACE_COUNTS = ("traces", "traces_dropped_incomplete", "traces_correct", "traces_incorrect")


def trace_correct(mv: bool | None, llama: bool | None, verifiers: str, null_verdict: str) -> bool:
    """Whether one trace counts as correct.

    ``verifiers``: both (both verdicts must be True), math_verify, or llama (that verdict alone). A null verdict
    (the Llama judge did not answer) follows ``null_verdict``: "other" uses the other verifier's verdict in its
    place, "incorrect" counts it as False. Two nulls are incorrect: a null never makes a trace correct on its own.
    """
    if null_verdict == "other":
        mv, llama = (llama if mv is None else mv), (mv if llama is None else llama)
    if verifiers == "both":
        return mv is True and llama is True
    if verifiers == "math_verify":
        return mv is True
    return llama is True


def required_columns(verifiers: str, require_complete: bool = False) -> tuple[str, ...]:
    """The columns the verdict rules need for this verifier setting."""
    if verifiers == "both":
        cols = BASE_COLUMNS + (VERDICT_COLUMNS["math_verify"], VERDICT_COLUMNS["llama"])
    elif verifiers in VERDICT_COLUMNS:
        cols = BASE_COLUMNS + (VERDICT_COLUMNS[verifiers],)
    else:
        raise DataError(
            f"data.builder.verifiers: unknown value {verifiers!r}; expected both | math_verify | llama"
        )
    return cols + (("is_reasoning_complete",) if require_complete else ())


def check_row(index: int, row: dict[str, Any], origin: str) -> None:
    """Raise DataError if one row breaks the schema; ``index`` is its position in the source."""
    where = f"{origin}: row {index}"
    problem = row.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise DataError(f"{where}, column 'problem': no problem text (got {problem!r})")
    gens = row.get("generations")
    if not isinstance(gens, list) or not gens:
        raise DataError(
            f"{where}, column 'generations': expected a non-empty list of strings, got {gens!r:.80}"
        )
    for j, g in enumerate(gens):
        if not isinstance(g, str):
            raise DataError(
                f"{where}, column 'generations'[{j}]: expected a string, got {type(g).__name__} {g!r:.60}"
            )
        if not g.strip():
            raise DataError(f"{where}, column 'generations'[{j}]: empty generation")
    for col in ALIGNED_COLUMNS:
        if col not in row or row[col] is None:  # absent, or a whole-row null (220k's correctness_llama)
            continue
        values = row[col]
        if not isinstance(values, list):
            raise DataError(
                f"{where}, column {col!r}: expected a list aligned with generations, got {values!r:.60}"
            )
        if len(values) != len(gens):
            raise DataError(
                f"{where}, column {col!r}: {len(values)} entries but 'generations' has {len(gens)} "
                "(per-trace lists must be aligned)"
            )
        if col in BOOL_LIST_COLUMNS:
            for j, v in enumerate(values):
                if v is not None and not isinstance(v, bool):
                    raise DataError(f"{where}, column {col!r}[{j}]: expected true/false/null, got {v!r}")


def check_columns(columns: list[str], required: tuple[str, ...], origin: str) -> None:
    """Raise DataError naming every required column that is missing."""
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(
            f"{origin}: missing column(s) {missing}; present: {columns}. "
            "Rename the dataset's columns with data.column_map (dataset name -> Open-R1 name)."
        )


def _suspect_rows(table: pa.Table) -> np.ndarray:
    """Rows that may break :func:`check_row`, found with Arrow kernels (the rest pass without Python)."""
    n = len(table)
    bad = np.zeros(n, dtype=bool)
    problem = table.column("problem")
    if not pa.types.is_string(problem.type) and not pa.types.is_large_string(problem.type):
        return np.ones(n, dtype=bool)
    blank = pc.or_(pc.equal(pc.utf8_length(problem), 0), pc.utf8_is_space(problem))
    bad |= pc.fill_null(blank, True).to_numpy(zero_copy_only=False)
    gens = table.column("generations")
    if not pa.types.is_list(gens.type) or not pa.types.is_string(gens.type.value_type):
        return np.ones(n, dtype=bool)
    lengths = pc.list_value_length(gens)
    bad |= pc.fill_null(pc.equal(lengths, 0), True).to_numpy(zero_copy_only=False)
    n_gens = pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False)
    for chunk_start, chunk in _list_chunks(gens):
        flat = chunk.flatten()
        empty = pc.fill_null(pc.or_(pc.equal(pc.utf8_length(flat), 0), pc.utf8_is_space(flat)), True)
        if pc.any(empty).as_py():
            parents = pc.list_parent_indices(chunk).to_numpy()
            bad[chunk_start + np.unique(parents[empty.to_numpy(zero_copy_only=False)])] = True
    for col in ALIGNED_COLUMNS:
        if col not in table.column_names or table.column(col).null_count == len(table):
            continue
        values = table.column(col)
        if not pa.types.is_list(values.type):
            return np.ones(n, dtype=bool)
        if col in BOOL_LIST_COLUMNS and not (
            pa.types.is_boolean(values.type.value_type) or pa.types.is_null(values.type.value_type)
        ):
            return np.ones(n, dtype=bool)
        own = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        present = ~np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False), dtype=bool)
        bad |= present & (np.nan_to_num(own, nan=-1).astype(np.int64) != n_gens)
    return bad


def check_rows(table: pa.Table, origin: str, required: tuple[str, ...], start: int = 0) -> None:
    """The ``required`` columns, then every row (Arrow kernels first; Python names the first bad row's column);
    ``start``: the number of the table's first row in ``origin``."""
    check_columns(table.column_names, tuple(required), origin)
    checked = [c for c in ("problem", "generations", *ALIGNED_COLUMNS) if c in table.column_names]
    view = table.select(checked)
    for i in np.flatnonzero(_suspect_rows(view)):
        check_row(start + int(i), view.slice(int(i), 1).to_pylist()[0], origin)


def _list_chunks(column: pa.ChunkedArray) -> Iterator[tuple[int, pa.ListArray]]:
    start = 0
    for chunk in column.chunks:
        yield start, chunk
        start += len(chunk)


def _verdict_list(values: list | None, n: int) -> list:
    return [None] * n if values is None else values


@register
class OpenR1(Format):
    """Open-R1 traces: D_SFT = the first correct trace of each problem, D_Pref = first correct vs first incorrect."""

    name = "openr1"
    columns = ("generations",)
    rule = "the paper's rules build D_SFT and D_Pref"
    sft_step = "sft_has_correct"
    pairs_step = "pairs_has_both"
    keeps_messages = False
    counts = TRACE_COUNTS

    def describe(self, fmt: DataFormat) -> str:
        return f"data format: openr1 ({fmt.how}); {self.rule}"

    def resolve(self, columns: set[str], row: dict[str, Any], origin: str) -> DataFormat:
        return DataFormat(self.name)  # its columns are checked with the rows, naming what is missing

    def check_row(self, index: int, row: dict[str, Any], origin: str, fmt: DataFormat) -> None:
        check_row(index, row, origin)

    def check_table(self, table: pa.Table, origin: str, fmt: DataFormat, cfg: Any, start: int = 0) -> None:
        check_rows(
            table, origin, required_columns(cfg.builder.verifiers, cfg.builder.require_complete), start
        )

    def filters(self, table: pa.Table, cfg: Any) -> list[tuple[str, np.ndarray]]:
        b = cfg.builder
        if b.require_valid and "problem_is_valid" not in table.column_names:
            log.info("data.builder.require_valid: no problem_is_valid column, every row counts as valid")
        if not (b.require_valid and "problem_is_valid" in table.column_names):
            return [("rows_valid", np.ones(len(table), dtype=bool))]
        valid = pc.utf8_lower(pc.utf8_trim_whitespace(table.column("problem_is_valid").cast(pa.string())))
        return [("rows_valid", pc.fill_null(pc.equal(valid, "yes"), False).to_numpy(zero_copy_only=False))]

    def candidates(self, pieces: Iterator[Rows], fmt: DataFormat, cfg: Any) -> Iterator[pa.Table]:
        b = cfg.builder
        for rows in pieces:
            verdicts = [c for c in ("correctness_math_verify", "correctness_llama", "is_reasoning_complete")
                        if c in rows.table.column_names]  # fmt: skip
            for numbers, piece in rows.chunks(["problem", "answer", "uuid", "generations", *verdicts]):
                lists = {c: piece.column(c).to_pylist() for c in verdicts}
                n_gens = pc.list_value_length(piece.column("generations")).to_numpy(zero_copy_only=False)
                counts = {k: np.zeros(len(piece), dtype=np.int64) for k in TRACE_COUNTS}
                firsts = [self._first_traces(int(n), {c: lists[c][k] for c in verdicts}, b, counts, k)
                          for k, n in enumerate(n_gens)]  # fmt: skip
                yield candidate_table({**self._piece(numbers, piece, firsts), **counts}, TRACE_COUNTS)

    @staticmethod
    def _first_traces(
        n: int, verdicts: dict[str, list | None], b: Any, counts: dict[str, np.ndarray], k: int
    ):
        """(first correct, first incorrect) trace index of row ``k`` (None when it has none), counted into
        ``counts[...][k]``."""
        mv = _verdict_list(verdicts.get("correctness_math_verify"), n)
        ll = _verdict_list(verdicts.get("correctness_llama"), n)
        complete = _verdict_list(verdicts.get("is_reasoning_complete"), n)
        first_ok = first_bad = None
        for j in range(n):
            counts["traces"][k] += 1
            if b.require_complete and complete[j] is not True:
                counts["traces_dropped_incomplete"][k] += 1
                continue
            if trace_correct(mv[j], ll[j], b.verifiers, b.null_verdict):
                counts["traces_correct"][k] += 1
                first_ok = j if first_ok is None else first_ok
            else:
                counts["traces_incorrect"][k] += 1
                first_bad = j if first_bad is None else first_bad
        return first_ok, first_bad

    @staticmethod
    def _piece(numbers: np.ndarray, piece: pa.Table, firsts: list[tuple[int | None, int | None]]) -> dict:
        """Candidate columns of one piece; the chosen/rejected texts are taken by Arrow, never as Python strings."""
        gens = piece.column("generations").combine_chunks()
        offsets = gens.offsets.to_numpy()[:-1] - gens.offsets[0].as_py()
        flat = gens.flatten()

        def pick(which: int) -> pa.Array:
            index = [None if f[which] is None else int(offsets[k] + f[which]) for k, f in enumerate(firsts)]
            return flat.take(pa.array(index, type=pa.int64()))

        uuids = piece.column("uuid").to_pylist() if "uuid" in piece.column_names else [None] * len(piece)
        answers = piece.column("answer").to_pylist()
        return {
            "row": numbers,
            "problem_id": [
                u if isinstance(u, str) and u else f"row-{i}" for u, i in zip(uuids, numbers, strict=True)
            ],
            "problem": piece.column("problem"),
            "prompt_messages": [""] * len(piece),
            "answer": ["" if a is None else str(a) for a in answers],
            "chosen": pick(0),
            "rejected": pick(1),
        }

    def texts(self, table: pa.Table, fmt: DataFormat) -> Iterator[str]:
        for batch in table.select(["problem", "generations"]).to_batches(max_chunksize=1024):
            for problem, gens in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                yield problem
                yield from gens
