"""The content key of a data build: the builder settings, the source's fingerprint, the tokenizer, the
contamination texts and the code that makes the rows (a change to any of them is a new build).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from redi.data.openr1 import DataError
from redi.infra.cache import content_key, file_sha256

_CODE_FILES = (
    "builder.py",
    "openr1.py",
    "decontaminate.py",
    "formats.py",
    "trl_builder.py",
)  # in the cache key
# the teacher's modules that make the rows (not its reader, classify.py): new rows, new caches
_TEACHER_FILES = tuple(
    f"synthetic/{name}" for name in ("columns.py", "problems.py", "errors.py", "shortcut.py", "teacher.py")
)
_GRADING_FILES = (
    "grader.py",
    "answers.py",
    "verify_worker.py",
)  # redi/grading/: how the teacher's traces are graded


def _plain(obj: Any) -> Any:
    """A JSON-able copy of a dataclass or OmegaConf config."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(obj):
            return OmegaConf.to_container(obj, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return obj


def _code_hash(names: tuple[str, ...]) -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in names:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def source_fingerprint(cfg: Any) -> dict[str, Any]:
    """What identifies the traces without loading them: teacher settings + code, file hash, or hub id/revision."""
    if cfg.source == "synthetic":
        grading = Path(__file__).parents[1] / "grading"  # the teacher labels its traces with the grader
        h = hashlib.sha256(b"".join((grading / f).read_bytes() for f in _GRADING_FILES))
        code = _code_hash(_TEACHER_FILES) + h.hexdigest()[:16]
        settings = dict(_plain(cfg.synthetic))
        if settings.get("teacher", "rules") == "rules":
            settings.pop("model_teacher", None)  # the rules teacher does not read it
            return {"synthetic": settings, "code": code}
        traces = settings["model_teacher"].get(
            "traces"
        )  # the sampled file (redi.stages.teacher): its content
        digest = file_sha256(Path(traces)) if traces and Path(traces).is_file() else None
        return {"synthetic": settings, "code": code, "traces_sha256": digest}
    if cfg.source == "local":
        path = Path(str(cfg.path)).expanduser()
        if not path.is_file():
            raise DataError(f"data.path: no such file {str(path)!r}")
        return {"path": str(path.resolve()), "sha256": file_sha256(path)}
    if cfg.source == "hub":
        return {
            "hub_id": cfg.hub_id,
            "hub_config": cfg.hub_config,
            "split": cfg.split,
            "revision": cfg.hub_revision,
        }
    raise DataError(f"data.source: unknown value {cfg.source!r}; expected synthetic | hub | local")


def cache_key(
    cfg: Any, tokenizer_key: str | None, contamination_texts: list[str] | None
) -> tuple[str, dict[str, Any]]:
    """The hash that names a build, and the inputs it was made from (saved next to the build)."""
    decon = None
    if cfg.builder.decontaminate and contamination_texts:
        decon = hashlib.sha256("\x00".join(contamination_texts).encode()).hexdigest()
    inputs = {
        "builder": _plain(cfg.builder),
        "prompt_template": cfg.prompt_template,
        "column_map": _plain(cfg.column_map),
        "format": getattr(cfg, "format", "auto"),
        "source": source_fingerprint(cfg),
        "tokenizer": tokenizer_key,
        "contamination": decon,
        "code": _code_hash(_CODE_FILES),
    }
    return content_key(inputs), inputs
