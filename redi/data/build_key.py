"""The content keys of a data build and of its cached stages: what went in, and the data package's code.

A change to any input (builder settings, prompt template, column map, format, the source's fingerprint, the
tokenizer, the contamination texts) or to any file of redi/data is a new build. The code hash covers every
``.py`` file under redi/data, found on disk: a new module keys the cache without being listed anywhere.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from redi.config.checks import plain
from redi.data.sources import open_source
from redi.infra.cache import content_key

PACKAGE = Path(__file__).parent


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """A hash of every .py file of the data package (path and bytes), sorted by path."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\x00" + path.read_bytes())
    return h.hexdigest()[:16]


def files_hash(names: tuple[str, ...]) -> str:
    """A hash of the named files of the data package (paths relative to redi/data), for caches of one part of it."""
    h = hashlib.sha256()
    for name in names:
        h.update((PACKAGE / name).read_bytes())
    return h.hexdigest()[:16]


def source_fingerprint(cfg: Any) -> dict[str, Any]:
    """What identifies the rows without loading them: teacher settings + code, file hashes, or hub id/revision."""
    return open_source(cfg).fingerprint()


def contamination_hash(texts: list[str] | None) -> str | None:
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest() if texts else None


def cache_key(
    cfg: Any, tokenizer_key: str | None, contamination_texts: list[str] | None, decontaminate: bool
) -> tuple[str, dict[str, Any]]:
    """The hash that names a build, and the inputs it was made from (saved next to the build)."""
    inputs = {
        "builder": plain(cfg.builder),
        "prompt_template": cfg.prompt_template,
        "column_map": plain(cfg.column_map),
        "format": getattr(cfg, "format", "auto"),
        "source": source_fingerprint(cfg),
        "tokenizer": tokenizer_key,
        "contamination": contamination_hash(contamination_texts) if decontaminate else None,
        "code": code_hash(),
    }
    return content_key(inputs), inputs


ROW_RULES = ("max_rows", "require_valid", "drop_sources", "verifiers", "null_verdict", "require_complete",
             "decontamination_ngram")  # fmt: skip


def candidates_key(inputs: dict[str, Any], fmt: Any, decontaminate: bool) -> str:
    """The key of a build's candidates stage: only what the row rules and the format read (not the token limits,
    the tokenizer or the shuffle), so builds that differ in those share it."""
    builder = {k: inputs["builder"].get(k) for k in ROW_RULES}
    return "cands-" + content_key(
        inputs["source"], inputs["column_map"], fmt.name, fmt.style, fmt.implicit_prompt, builder,
        decontaminate, inputs["contamination"], inputs["code"],
    )  # fmt: skip
