"""Where the rows come from: a local file (or a folder or glob of shards), a hub dataset, or the synthetic teacher.

:func:`open_source` resolves ``data.source`` / ``data.path`` / ``data.hub_id`` without reading the rows; a
:class:`Source` then gives its fingerprint (what the build cache is keyed by), its first row (to tell the format)
and all its rows as one Arrow table with ``data.column_map`` applied. Rows are read once per process (memoised
by the fingerprint); with a ``store`` directory a local file's parse is kept there as memory-mapped Arrow files,
so its size costs disk rather than memory and a second process maps it instead of parsing again.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from redi.config.checks import plain
from redi.data.errors import DataError
from redi.data.sources import stored
from redi.data.sources.columns import map_columns, map_row
from redi.data.sources.files import check_file_size, first_row, read_file, rows_table
from redi.data.sources.paths import data_files

log = logging.getLogger(__name__)
KINDS = ("synthetic", "hub", "local")
RowCheck = Callable[
    [int, dict[str, Any], str], None
]  # (row number in its file, row, file) -> raises DataError
_READ: dict[str, list[Piece]] = {}  # fingerprint -> the rows, this process's reads of small sources
_KEEP = 2
KEEP_BYTES = (
    512 * 2**20
)  # a source whose rows take up to this much memory is parsed once per process and kept
PIECE_ROWS = 4096  # rows per piece of a hub or synthetic table (a local file's pieces are ~32 MB of JSON)


@dataclass(frozen=True)
class Piece:
    """Some rows of a source: the table, the file (or source) they are in, and the first one's number there."""

    table: pa.Table
    origin: str
    start: int


@dataclass
class Source:
    """One configured source of rows (nothing read yet)."""

    kind: str
    origin: str  # how messages name it: the path as typed, hub_id[config:split], "synthetic teacher"
    cfg: Any = field(repr=False)
    files: list[Path] = field(default_factory=list)

    @property
    def column_map(self) -> dict[str, str]:
        return dict(plain(self.cfg.column_map) or {})

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the rows without parsing them: file hashes, hub id and revision, or teacher settings."""
        from redi.infra.cache import file_sha256  # memoised per process by size and mtime

        if self.kind == "local":
            files = [{"path": str(f.resolve()), "sha256": file_sha256(f)} for f in self.files]
            return files[0] if len(files) == 1 else {"files": files}
        if self.kind == "hub":
            c = self.cfg
            return {
                "hub_id": c.hub_id,
                "hub_config": c.hub_config,
                "split": c.split,
                "revision": c.hub_revision,
            }
        settings = dict(plain(self.cfg.synthetic))
        if settings.get("teacher", "rules") == "rules":
            settings.pop("model_teacher", None)  # the rules teacher does not read it
            return {"synthetic": settings, "code": _teacher_code()}
        traces = settings["model_teacher"].get(
            "traces"
        )  # the sampled file (redi.stages.teacher): its content
        digest = file_sha256(Path(traces)) if traces and Path(traces).is_file() else None
        return {"synthetic": settings, "code": _teacher_code(), "traces_sha256": digest}

    def first_row(self) -> tuple[list[str], dict[str, Any]]:
        """(columns, first row) after ``data.column_map``, reading as little as the source allows."""
        if self.kind == "local":
            f = self.files[0]
            stat = f.stat()
            row = _first_row(f.resolve(), stat.st_size, stat.st_mtime_ns, float(self.cfg.max_row_mb))
            row = map_row(row, self.column_map)
            return list(row), row
        table = self.read()
        return table.column_names, (table.slice(0, 1).to_pylist() or [{}])[0]

    def pieces(self, check_rows: RowCheck | None = None) -> Iterator[Piece]:
        """Every row a piece at a time, ``data.column_map`` applied (``check_rows`` names a row Arrow refuses).

        A source of at most :data:`KEEP_BYTES` is parsed once per process and kept; a larger one is parsed on each
        pass a piece at a time, so memory holds one piece whatever the source's size.
        """
        column_map = self.column_map
        for piece in self._raw_pieces(check_rows):  # renamed on the way out: the kept parse is the file's own
            yield Piece(map_columns(piece.table, column_map, piece.origin), piece.origin, piece.start)

    def _raw_pieces(self, check_rows: RowCheck | None) -> Iterator[Piece]:
        key = json.dumps(self.fingerprint(), sort_keys=True)
        if key in _READ:
            yield from _READ[key]
            return
        kept: list[Piece] | None = []
        size = 0
        for piece in self._parse(check_rows):
            if kept is not None:
                size += piece.table.nbytes
                if size <= KEEP_BYTES:
                    kept.append(piece)
                else:
                    kept = None  # too big to keep: parsed on every pass, a piece at a time
            yield piece
        if kept is not None:
            if len(_READ) >= _KEEP:
                _READ.pop(next(iter(_READ)))
            _READ[key] = kept

    def read(self, check_rows: RowCheck | None = None) -> pa.Table:
        """Every row as one table (for tools, tests and small data; the build reads :meth:`pieces`)."""
        return stored.concat([p.table for p in self.pieces(check_rows)], self.origin)

    def _parse(self, check_rows: RowCheck | None) -> Iterator[Piece]:
        column_map = self.column_map
        if self.kind in ("hub", "synthetic"):
            table = load_hub(self.cfg).data.table if self.kind == "hub" else _synthetic_table(self.cfg)
            for start in range(0, max(len(table), 1), PIECE_ROWS):
                yield Piece(table.slice(start, PIECE_ROWS), self.origin, start)
            return
        answer_key = next((src for src, dst in column_map.items() if dst == "answer"), "answer")
        for path in self.files:
            origin = (
                self.origin if len(self.files) == 1 else str(path)
            )  # a shard's rows are named in its file
            check = None if check_rows is None else _renamed_check(check_rows, column_map, origin)
            start = 0
            for table in read_file(path, max_row_mb=float(self.cfg.max_row_mb), answer_key=answer_key,
                                   check_rows=check):  # fmt: skip
                yield Piece(table, origin, start)
                start += len(table)


@functools.lru_cache(maxsize=8)
def _first_row(path: Path, size: int, mtime_ns: int, max_row_mb: float) -> dict[str, Any]:
    """A file's first row, read once per process for a given size and mtime."""
    return first_row(path, max_row_mb=max_row_mb)


def _renamed_check(check_rows: RowCheck, column_map: dict[str, str], origin: str):
    """The row check on a file's rows as parsed: renamed by ``data.column_map``, named in ``origin``."""

    def check(index: int, row: dict[str, Any]) -> None:
        check_rows(index, map_row(row, column_map), origin)

    return check


def open_source(cfg: Any) -> Source:
    """The source ``cfg`` (a data config) names, checked as far as it can be without reading it."""
    kind = cfg.source
    if kind == "local":
        if not cfg.path:
            raise DataError("data.path: required when data.source=local")
        files = data_files(str(cfg.path))
        for f in files:
            check_file_size(f, float(cfg.max_file_mb))
        return Source("local", str(cfg.path), cfg, files)
    if kind == "hub":
        if not cfg.hub_id:
            raise DataError("data.hub_id: required when data.source=hub")
        return Source("hub", hub_origin(cfg), cfg)
    if kind == "synthetic":
        return Source("synthetic", "synthetic teacher", cfg)
    raise DataError(f"data.source: unknown value {kind!r}; expected one of {list(KINDS)}")


def hub_origin(cfg: Any) -> str:
    return f"{cfg.hub_id}[{cfg.hub_config or 'default'}:{cfg.split}]"


def load_hub(cfg: Any):
    """``datasets.load_dataset`` of the configured hub id (or a dataset directory given as hub_id): one split."""
    import datasets

    kwargs: dict[str, Any] = {"split": cfg.split}
    if cfg.hub_revision:
        kwargs["revision"] = cfg.hub_revision
    try:
        ds = datasets.load_dataset(cfg.hub_id, cfg.hub_config, **kwargs)
    except Exception as e:  # noqa: BLE001 - add which config keys led here
        raise DataError(
            f"data.hub_id={cfg.hub_id!r} hub_config={cfg.hub_config!r} split={cfg.split!r}: {e}"
        ) from e
    if not isinstance(ds, datasets.Dataset):
        raise DataError(f"{hub_origin(cfg)}: expected one split, got {type(ds).__name__}; set data.split")
    return ds


def _synthetic_table(cfg: Any) -> pa.Table:
    return _synthetic_rows(json.dumps(plain(cfg.synthetic), sort_keys=True))


@functools.lru_cache(maxsize=2)
def _synthetic_rows(settings: str) -> pa.Table:
    """The teacher's rows for these settings, generated once per process.

    teacher=model: the traces the teacher stage sampled (redi.stages.teacher), read from the file it wrote.
    """
    from redi.data import synthetic  # the package's generate_teacher_rows (imports the grader)
    from redi.data.synthetic.teacher import teacher_config

    cfg = teacher_config(json.loads(settings))
    if cfg.teacher == "model":
        if not cfg.model_teacher.traces:
            raise DataError(
                "data.synthetic.teacher=model: the teacher's traces are not built yet (redi.stages.teacher builds "
                "them before any data is read; run through python -m redi.run)"
            )
        path = Path(cfg.model_teacher.traces)
        return stored.concat(list(read_file(path, max_row_mb=4096.0)), str(path))
    return rows_table(synthetic.generate_teacher_rows(cfg))


# the teacher's modules that make the rows (not its reader, classify.py), and the grader that labels its traces
_TEACHER_FILES = ("columns.py", "problems.py", "errors.py", "shortcut.py", "teacher.py")
_GRADING_FILES = ("grader.py", "answers.py", "verify_worker.py")  # redi/grading/


def _teacher_code() -> str:
    import hashlib

    here = Path(__file__).parents[1]
    grading = here.parent / "grading"
    h = hashlib.sha256()
    for f in _TEACHER_FILES:
        h.update((here / "synthetic" / f).read_bytes())
    code = h.hexdigest()[:16]
    return (
        code + hashlib.sha256(b"".join((grading / f).read_bytes() for f in _GRADING_FILES)).hexdigest()[:16]
    )


def forget_reads() -> None:
    """Drop this process's memoised reads (tests that change a file in place)."""
    _READ.clear()
    _synthetic_rows.cache_clear()
    _first_row.cache_clear()
