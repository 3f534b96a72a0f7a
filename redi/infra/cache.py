"""Content-keyed cache entries shared by the runs of a sweep: one key, one build under a lock, atomic publishing.

Every cache names its entry with :func:`content_key` and builds it with :func:`building` (a directory: the data
build; in place: the stage-1 run directory) or :func:`building_file` (one file: DPO's reference log-probs). Both
decide through :func:`once`: under an inter-process file lock, held by one process per job, whether the entry is
still missing. A build goes to a work directory (or temporary file) that becomes the entry only when the build
finished, so a failed or killed build never leaves an entry that later runs would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from redi.infra.status import now

log = logging.getLogger(__name__)
COMPLETE = ".complete"  # the marker a published entry carries


def content_key(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path``; says so when it has to wait for another process."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for %s: another process is building it (lock %s)", what, lock_path)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_published(entry: Path) -> bool:
    return (Path(entry) / COMPLETE).is_file()


def _same(flag: bool) -> bool:
    return flag


@contextlib.contextmanager
def once(
    lock_path: Path,
    what: str,
    needed: Callable[[], bool],
    *,
    is_main: bool = True,
    agree: Callable[[bool], bool] = _same,
) -> Iterator[bool]:
    """``with once(lock, what, needed) as build:``: whether this process must build (every cache's one decision).

    The main process holds the inter-process lock for the whole block and decides (``needed()``, read under the
    lock, so of two processes wanting the same entry the second sees the first's result); ``agree`` hands the
    decision to the other ranks of a job (``broadcast_flag``), which never lock. :func:`building` and
    :func:`building_file` publish on top of it.
    """
    with contextlib.ExitStack() as stack:
        if is_main:
            stack.enter_context(exclusive(lock_path, what))
        yield agree(is_main and needed())


@contextlib.contextmanager
def building(
    entry: Path,
    what: str,
    *,
    complete: Callable[[Path], bool] = is_published,
    resumable: bool = False,
    in_place: bool = False,
    is_main: bool = True,
    agree: Callable[[bool], bool] = _same,
) -> Iterator[Path | None]:
    """``with building(entry, what) as work:`` yields None when ``entry`` is complete, else a directory to build in.

    The caller builds into ``work``; when the block ends without an error the work directory gets the
    :data:`COMPLETE` marker and is renamed to ``entry`` (an incomplete ``entry`` left by older code is replaced).
    An error leaves no entry: the work directory is deleted, or kept for the next attempt when ``resumable``
    (a fixed name beside the entry). ``in_place``: ``entry`` itself is the work directory (a run directory that
    says in its own files whether it finished, as stage 1's status.json does: ``complete`` reads them); nothing
    is renamed and a failed build stays for the next attempt to resume.
    With several processes, only the main one locks and publishes; ``agree`` broadcasts its decision to the rest.
    """
    entry = Path(entry)
    entry.parent.mkdir(parents=True, exist_ok=True)
    lock = entry.with_name(entry.name + ".lock")
    with once(lock, what, lambda: not complete(entry), is_main=is_main, agree=agree) as build:
        if not build:
            yield None
            return
        work = entry if in_place else entry.with_name(f".{entry.name}.partial")
        if is_main:
            if not (resumable or in_place):
                shutil.rmtree(work, ignore_errors=True)
                work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
            work.mkdir(exist_ok=True)
        try:
            yield work
        except BaseException:
            if is_main and not (resumable or in_place):
                shutil.rmtree(work, ignore_errors=True)
            raise
        if is_main:
            (work / COMPLETE).write_text(now() + "\n")
            if not in_place:
                if entry.exists():
                    log.warning("replacing the incomplete cache entry %s", entry)
                    shutil.rmtree(entry)
                os.rename(work, entry)


@contextlib.contextmanager
def building_file(
    path: Path, what: str, *, is_main: bool = True, agree: Callable[[bool], bool] = _same
) -> Iterator[Path | None]:
    """``with building_file(path, what) as tmp:``: :func:`building` for an entry that is one file.

    Yields None when ``path`` exists, else a temporary path beside it for the main process to write; when the
    block ends without an error the temporary file replaces ``path`` (atomic), after an error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with once(
        path.with_suffix(".lock"), what, lambda: not path.exists(), is_main=is_main, agree=agree
    ) as build:
        if not build:
            yield None
            return
        tmp = path.with_suffix(".tmp")
        try:
            yield tmp
        except BaseException:
            if is_main:
                tmp.unlink(missing_ok=True)
            raise
        if is_main:
            tmp.replace(path)


def file_sha256(path: Path) -> str:
    """The file's sha256, computed once per process for a given size and mtime (several caches key on it)."""
    stat = Path(path).stat()
    return _sha256_of(Path(path).resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(paths: list[Path]) -> str:
    """One short hash over the named files' hashes (sorted by name), for keying caches on model weights."""
    return content_key([(Path(p).name, file_sha256(Path(p))) for p in sorted(paths)])


def cache_dir(cfg: Any) -> Path:
    """Where the entries shared by the runs of a sweep live (stage 1, reference log-probs, built data)."""
    return Path(cfg.paths.cache_dir).expanduser().resolve()
