"""Token lengths for the builder's limits: counted in parallel, and not at all where bytes already decide.

A byte-level BPE tokenizer turns every token into at least one byte of its (normalised) input, so a text of B UTF-8
bytes has at most B tokens: a text whose bytes, plus the fixed bytes the chat template wraps it in, are within a
token limit cannot exceed it, and need not be tokenised. :func:`byte_bound` checks that the tokenizer is of that
kind (a BPE model with a ByteLevel pre-tokenizer and at most a Unicode normalisation, whose output is measured)
and that the template wraps a message's text in the same bytes whatever the text; otherwise every text is counted.
Only texts over the bound are tokenised, by ``data.num_workers`` processes (0: one per core).
"""

from __future__ import annotations

import collections
import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from redi.data.tables import take

log = logging.getLogger(__name__)
CountTexts = Callable[[list[str]], list[int]]
UNICODE_NORMALISERS = {"NFC", "NFD", "NFKC", "NFKD"}
CHUNK = 512  # texts per counting task, at most
CHUNK_BYTES = 4 * 2**20  # ... and about this much text (its tokens are held while it is counted)
PARALLEL_FROM = 4 * CHUNK  # fewer texts than this are counted in this process


@dataclass(frozen=True)
class LengthCounter:
    """How one role's texts are counted: ``count`` (exact), and when known an upper bound from their bytes.

    ``overhead``: tokens(t) <= bytes(normalise(t)) + overhead for every text t, or None when no such bound is known.
    """

    count: CountTexts
    overhead: int | None = None
    normalise: Callable[[str], str] | None = None

    def upper_bounds(self, texts: pa.ChunkedArray, rows: np.ndarray) -> np.ndarray | None:
        """A bound on the token count of each of ``texts[rows]`` (int64), or None when there is no bound."""
        if self.overhead is None:
            return None
        nbytes = pc.binary_length(texts).to_numpy(zero_copy_only=False)[rows].astype(np.int64)
        if self.normalise is not None and self.normalise is not _identity:  # only non-ASCII text can change
            ascii_ = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)[rows]
            for k in np.flatnonzero(~ascii_):
                text = texts[int(rows[k])].as_py()
                nbytes[k] = max(nbytes[k], len(self.normalise(text).encode("utf-8")))
        return nbytes + self.overhead


def _identity(text: str) -> str:
    return text


def byte_level_normaliser(tokenizer) -> Callable[[str], str] | None:
    """The tokenizer's normaliser when every token it makes is >= 1 byte of the normalised text, else None.

    True of a BPE model with a ByteLevel pre-tokenizer (GPT-2, Qwen2, Llama 3, redi's trained tokenizer) whose
    normaliser is absent or a Unicode normal form; not assumed of anything else.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    spec = json.loads(backend.to_str())
    if (spec.get("model") or {}).get("type") != "BPE" or "ByteLevel" not in json.dumps(
        spec.get("pre_tokenizer")
    ):
        return None
    norm = spec.get("normalizer")
    if norm is None:
        return _identity
    kinds = (
        [n.get("type") for n in norm.get("normalizers", [])]
        if norm.get("type") == "Sequence"
        else [norm.get("type")]
    )
    if not set(kinds) <= UNICODE_NORMALISERS:
        return None
    return backend.normalizer.normalize_str


def template_overhead(render: Callable[[str], str]) -> int | None:
    """Bytes a chat template adds around one message's text, when it adds the same bytes to any text; else None."""
    wraps = set()
    for probe in ("\x00probe\x00", "x <think>\ny</think>\n\n", " \\boxed{1} "):
        out = render(probe)
        if out.count(probe) != 1:
            return None
        before, after = out.split(probe)
        wraps.add((before, after))
    if len(wraps) != 1:
        return None
    before, after = wraps.pop()
    return len(before.encode("utf-8")) + len(after.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# counting, in parallel


_COUNT: CountTexts | None = None  # the counter the worker processes inherit (fork)


def _count_chunk(texts: list[str]) -> list[int]:
    assert _COUNT is not None
    return [int(n) for n in _COUNT(texts)]


def workers(setting: int) -> int:
    """Processes for ``data.num_workers`` (0: one per available core)."""
    if setting and setting > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _checked(counts: Sequence[int], chunk: list[str]) -> list[int]:
    if len(counts) != len(chunk):
        raise ValueError(f"the token counter returned {len(counts)} counts for {len(chunk)} texts")
    return [int(c) for c in counts]


def count_all(
    count: CountTexts, chunks: Iterator[list[str]], total: int, processes: int, on_chunk=None
) -> np.ndarray:
    """``count`` over the texts of ``chunks`` (``total`` of them), by ``processes`` forked workers when there are
    enough; at most two chunks per worker are in flight, so memory holds a few chunks, not every text."""
    out: list[int] = []
    if processes <= 1 or total < PARALLEL_FROM:
        for chunk in chunks:
            out += _checked(list(count(chunk)), chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
        return np.asarray(out, dtype=np.int64)
    global _COUNT
    _COUNT = count
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pending: collections.deque = collections.deque()
            for chunk in chunks:
                pending.append((len(chunk), pool.apply_async(_count_chunk, (chunk,))))
                while len(pending) >= 2 * processes:
                    out += _collect(pending.popleft(), on_chunk)
            while pending:
                out += _collect(pending.popleft(), on_chunk)
    finally:
        _COUNT = None
    return np.asarray(out, dtype=np.int64)


def _collect(item, on_chunk) -> list[int]:
    n, result = item
    counts = result.get()
    if len(counts) != n:
        raise ValueError(f"the token counter returned {len(counts)} counts for {n} texts")
    if on_chunk is not None:
        on_chunk(n)
    return counts


def text_chunks(
    texts: pa.ChunkedArray, rows: np.ndarray, max_bytes: int = CHUNK_BYTES
) -> Iterator[list[str]]:
    """The ``rows`` of ``texts`` as Python strings, at most :data:`CHUNK` texts and about ``max_bytes`` at a time
    (a chunk's tokenisation is what one worker holds)."""
    nbytes = pc.binary_length(texts).to_numpy(zero_copy_only=False)[rows]
    start = 0
    while start < len(rows):
        stop = start + 1
        size = nbytes[start]
        while stop < len(rows) and stop - start < CHUNK and size + nbytes[stop] <= max_bytes:
            size += nbytes[stop]
            stop += 1
        yield take(texts, rows[start:stop]).to_pylist()
        start = stop


def lengths(
    counter: LengthCounter,
    texts: pa.ChunkedArray,
    rows: np.ndarray,
    limit: int,
    processes: int,
    what: str = "",
) -> tuple[np.ndarray, int]:
    """For ``texts[rows]``: (the token count, or the byte bound where that is already <= ``limit``; how many texts
    were tokenised). Every value decides ``<= limit`` exactly as the full count would. ``what`` names the texts in
    the progress lines ("count tokens (chosen): 1,200/9,800 texts ...")."""
    from redi.infra.progress import Progress

    bounds = counter.upper_bounds(texts, rows)
    if bounds is None:
        todo = np.arange(len(rows))
        out = np.zeros(len(rows), dtype=np.int64)
    else:
        todo = np.flatnonzero(bounds > limit)
        out = bounds
    if len(todo):
        progress = Progress(len(todo), f"count tokens ({what})" if what else "count tokens", unit="texts",
                            enabled=len(todo) >= PARALLEL_FROM)  # fmt: skip
        try:
            chunks = text_chunks(texts, rows[todo])
            out[todo] = count_all(counter.count, chunks, len(todo), processes, progress.update)
        finally:
            progress.close()
        log.info("data: %s: %d of %d texts tokenised, the rest within the limit by their bytes", what or "texts",
                 len(todo), len(rows))  # fmt: skip
    return out, len(todo)


def counters(
    mode: str, count_tokens: CountTexts, count_chat=None, tokenizer=None
) -> tuple[LengthCounter, LengthCounter]:
    """(user-turn counter, assistant-turn counter) for ``data.builder.length_count``.

    paper: the chat template applied to the one message, tokenised, + 1 (``count_chat(texts, role)``), as the
    paper's study_length_distribution.py counts; text: the raw text's tokens. With the ``tokenizer`` that counts,
    each counter carries the byte bound when :func:`byte_level_normaliser` and :func:`template_overhead` allow it.
    """
    normalise = byte_level_normaliser(tokenizer) if tokenizer is not None else None
    if mode == "text" or count_chat is None:
        if mode == "paper":
            log.info("data.builder.length_count=paper without a chat counter: counting the raw text's tokens")
        plain = LengthCounter(count_tokens, 0 if normalise else None, normalise)
        return plain, plain

    def role_counter(role: str) -> LengthCounter:
        overhead = None
        if normalise is not None:

            def render(text: str) -> str:
                return tokenizer.apply_chat_template(
                    [{"role": role, "content": text}], add_generation_prompt=False, tokenize=False
                )

            wrap = template_overhead(render)
            overhead = None if wrap is None else wrap + 1
        return LengthCounter(lambda texts: count_chat(texts, role), overhead, normalise)

    return role_counter("user"), role_counter("assistant")
