"""Benchmarks as lists of :class:`Problem`: from a local file, a hub id, or the synthetic teacher's held-out split.

Local files come in the layouts found in the wild: one JSON array or JSON lines; the gold answer as a string, a
number (AMC's 142.0), a list of accepted forms (Minerva, OlympiadBench), or only as the last \\boxed{} of a solution.
Every problem is checked while loading, so a bad row fails before any generation with its file, row and key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redi.config import BenchmarkConfig
from redi.grading.answers import clean_gold, extract_answer

SOURCES = ("local", "hub", "synthetic")
ID_KEYS = ("unique_id", "id", "idx")  # tried in order when a row carries its own id


@dataclass(frozen=True)
class Problem:
    """One benchmark problem; ``golds`` holds every accepted form of the answer (``golds[0] == answer``)."""

    id: str
    problem: str
    answer: str
    golds: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.golds:
            object.__setattr__(self, "golds", (self.answer,))


def _answer_strings(value: Any, where: str) -> list[str]:
    """The gold answer cell as a list of cleaned strings (numbers printed without a spurious ".0")."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: answer is a boolean ({value!r}), expected a string, number or list")
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: answer is {value!r}")
        return [str(int(value))] if value.is_integer() else [repr(value)]
    if isinstance(value, str):
        cleaned = clean_gold(value)
        return [cleaned] if cleaned else []
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            for s in _answer_strings(item, where):
                if s not in out:
                    out.append(s)
        return out
    raise ValueError(
        f"{where}: answer has type {type(value).__name__} ({value!r:.80}), expected str, number or list"
    )


def rows_to_problems(rows: Iterable[Mapping[str, Any]], cfg: BenchmarkConfig, origin: str) -> list[Problem]:
    """Turn raw rows into problems, raising with ``origin``, row number and key on anything unusable."""
    problems: list[Problem] = []
    for i, row in enumerate(rows):
        where = f"{origin} row {i}"
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}: expected an object with keys, got {type(row).__name__}")
        text = row.get(cfg.problem_key)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"{where}: key {cfg.problem_key!r} (benchmark problem_key) missing or empty; "
                f"keys present: {sorted(row)}"
            )
        golds = (
            _answer_strings(row.get(cfg.answer_key), f"{where} key {cfg.answer_key!r}")
            if row.get(cfg.answer_key) is not None
            else []
        )
        if not golds and cfg.solution_key and isinstance(row.get(cfg.solution_key), str):
            boxed = extract_answer(row[cfg.solution_key])
            golds = [clean_gold(boxed)] if boxed and clean_gold(boxed) else []
        if not golds:
            raise ValueError(
                f"{where}: no gold answer: key {cfg.answer_key!r} is missing or empty and "
                + (
                    f"key {cfg.solution_key!r} has no \\boxed{{}} answer"
                    if cfg.solution_key
                    else "solution_key is null"
                )
                + f"; keys present: {sorted(row)}"
            )
        problems.append(Problem(id=_row_id(row, cfg, i), problem=text, answer=golds[0], golds=tuple(golds)))
    if not problems:
        raise ValueError(f"{origin}: no problems")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):  # a row id that repeats cannot name a problem: fall back to the row number
        problems = [Problem(str(i), p.problem, p.answer, p.golds) for i, p in enumerate(problems)]
    return problems[: cfg.limit] if cfg.limit is not None else problems


def _row_id(row: Mapping[str, Any], cfg: BenchmarkConfig, index: int) -> str:
    keys = (cfg.id_key,) if cfg.id_key else ID_KEYS
    for key in keys:
        if key in row and row[key] is not None:
            return str(row[key])
    if cfg.id_key:
        raise ValueError(f"row {index}: id_key {cfg.id_key!r} missing; keys present: {sorted(row)}")
    return str(index)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a local file: one JSON array (or an object holding one under "data"/"rows") or JSON lines."""
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        return rows
    if stripped.startswith("{"):
        try:  # a whole-file object (e.g. {"data": [...]}) ...
            whole = json.loads(text)
            for key in ("data", "rows", "problems"):
                if isinstance(whole, dict) and isinstance(whole.get(key), list):
                    return whole[key]
            if isinstance(whole, dict) and "\n" not in text.strip():
                return [whole]  # a one-line jsonl file
        except json.JSONDecodeError:
            pass  # ... or JSON lines
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} line {n}: not valid JSON ({e})") from e
        return rows
    raise ValueError(f"{path}: neither a JSON array nor JSON lines (starts with {stripped[:20]!r})")


def _hub_rows(cfg: BenchmarkConfig, name: str) -> list[dict[str, Any]]:
    from datasets import load_dataset

    if not cfg.hub_id:
        raise ValueError(f"eval.benchmarks.{name}: source=hub needs hub_id")
    ds = load_dataset(cfg.hub_id, cfg.hub_config, split=cfg.split)
    return list(ds)


def _synthetic_rows(synthetic: Any, name: str) -> list[dict[str, Any]]:
    if synthetic is None:
        raise ValueError(
            f"eval.benchmarks.{name}: source=synthetic needs the synthetic teacher's config (data.synthetic); "
            "pass synthetic=cfg.data.synthetic"
        )
    try:
        from redi.data.synthetic import heldout_problems
    except ImportError as e:
        raise ImportError(
            f"eval.benchmarks.{name}: the synthetic teacher (redi.data.synthetic) is unavailable: {e}"
        ) from e
    return heldout_problems(synthetic)


class BenchmarkError(ValueError):
    """A benchmark entry or file that cannot be evaluated; the message names eval.benchmarks.<name> and the row."""


def benchmark_config(name: str, entry: Any) -> Any:
    """``entry`` (a dict, DictConfig or BenchmarkConfig) completed with BenchmarkConfig's defaults and checked.

    ``eval.benchmarks`` is untyped so that a user can add a benchmark by name; this restores the schema: an
    unknown key or a wrong type fails naming ``eval.benchmarks.<name>.<key>``.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(entry, BenchmarkConfig):
        return entry
    if entry is None or (not isinstance(entry, Mapping) and not OmegaConf.is_dict(entry)):
        raise BenchmarkError(
            f"eval.benchmarks.{name}: expected the benchmark's keys (path=..., problem_key=..., answer_key=...), "
            f"got {entry!r}"
        )
    schema = OmegaConf.structured(BenchmarkConfig)
    try:
        return OmegaConf.merge(schema, entry)
    except OmegaConfBaseException as e:
        key = getattr(e, "key", None)
        known = ", ".join(f.name for f in dataclasses.fields(BenchmarkConfig))
        raise BenchmarkError(
            f"eval.benchmarks.{name}.{key}: {str(e).splitlines()[0]} (benchmark keys: {known})"
        ) from e


def check_benchmarks(benchmarks: Mapping[str, Any], synthetic: Any = None) -> dict[str, int]:
    """Load every local benchmark in ``eval.benchmarks`` now (before any training); returns name -> #problems.

    Each entry is checked against the schema and each local file read and checked row by row, so a missing key
    or an unusable row fails before stage 1 with the benchmark's name, file and row. Hub benchmarks are checked
    for their keys only (loading them needs the network); the synthetic one is generated at evaluation.
    """
    counts: dict[str, int] = {}
    for name, entry in (benchmarks or {}).items():
        cfg = benchmark_config(name, entry)
        if cfg.source != "local":
            if cfg.source not in SOURCES:
                raise BenchmarkError(
                    f"eval.benchmarks.{name}.source: {cfg.source!r} is not one of {list(SOURCES)}"
                )
            if cfg.source == "hub" and not cfg.hub_id:
                raise BenchmarkError(f"eval.benchmarks.{name}.hub_id: required when source=hub")
            continue
        try:
            counts[name] = len(load_benchmark(name, cfg, synthetic))
        except BenchmarkError:
            raise
        except (ValueError, OSError) as e:
            raise BenchmarkError(f"eval.benchmarks.{name}: {e}") from e
    return counts


def load_benchmark(name: str, cfg: Any, synthetic: Any = None) -> list[Problem]:
    """Problems of benchmark ``name`` (the key under ``eval.benchmarks``) from wherever ``cfg`` says."""
    cfg = benchmark_config(name, cfg)
    if cfg.source not in SOURCES:
        raise ValueError(f"eval.benchmarks.{name}.source: {cfg.source!r} is not one of {list(SOURCES)}")
    if cfg.limit is not None and cfg.limit < 1:
        raise ValueError(f"eval.benchmarks.{name}.limit must be >= 1 or null, got {cfg.limit!r}")
    if cfg.source == "local":
        if not cfg.path:
            raise BenchmarkError(f"eval.benchmarks.{name}.path: required when source=local")
        path = Path(cfg.path).expanduser()
        return rows_to_problems(read_rows(path), cfg, str(path))
    if cfg.source == "hub":
        rows = _hub_rows(cfg, name)
        return rows_to_problems(rows, cfg, f"hub:{cfg.hub_id}[{cfg.split}]")
    synthetic_cfg = BenchmarkConfig(
        source="synthetic",
        problem_key="problem",
        answer_key="answer",
        solution_key=None,
        limit=cfg.limit,
        id_key="id",
    )
    return rows_to_problems(_synthetic_rows(synthetic, name), synthetic_cfg, f"synthetic held-out ({name})")
