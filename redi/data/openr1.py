"""Teacher traces in the Open-R1 schema: load them (hub id, local file or the synthetic teacher), rename columns,
and check every row before any compute, so bad data fails with the row index and column it is in.

The schema (OpenR1-Math-220k / -Raw): one row per problem with ``problem``, ``answer``, optional ``source``, ``uuid``,
``problem_is_valid``, and aligned per-trace lists ``generations``, ``correctness_math_verify``, ``correctness_llama``,
``is_reasoning_complete``, ``finish_reasons`` (plus ``error_types`` from the synthetic teacher). OpenR1-Math-Raw
keeps its verdicts in a struct column ``correctness``; a dotted name in ``column_map`` reaches into it
(``correctness.llama_verification: correctness_llama``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import datasets

from redi.config import DataConfig

log = logging.getLogger(__name__)

BASE_COLUMNS = ("problem", "answer", "generations")
VERDICT_COLUMNS = {"math_verify": "correctness_math_verify", "llama": "correctness_llama"}
# per-trace lists that must line up with ``generations`` when present
ALIGNED_COLUMNS = (
    "correctness_math_verify",
    "correctness_llama",
    "is_reasoning_complete",
    "finish_reasons",
    "error_types",
)
# aligned lists whose entries are verdicts (True / False / None)
BOOL_LIST_COLUMNS = ("correctness_math_verify", "correctness_llama", "is_reasoning_complete")
LOCAL_EXTENSIONS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SOURCES = ("synthetic", "hub", "local")


class DataError(ValueError):
    """Bad teacher data or data configuration; the message names the file/dataset, row index and column."""


def required_columns(verifiers: str, require_complete: bool = False) -> tuple[str, ...]:
    """The columns the builder needs for this verifier setting."""
    if verifiers == "both":
        cols = BASE_COLUMNS + (VERDICT_COLUMNS["math_verify"], VERDICT_COLUMNS["llama"])
    elif verifiers in VERDICT_COLUMNS:
        cols = BASE_COLUMNS + (VERDICT_COLUMNS[verifiers],)
    else:
        raise DataError(
            f"data.builder.verifiers: unknown value {verifiers!r}; expected both | math_verify | llama"
        )
    return cols + (("is_reasoning_complete",) if require_complete else ())


# ---------------------------------------------------------------------------------------------------------------
# row checks


def _check_row(index: int, row: dict[str, Any], origin: str) -> None:
    """Raise DataError if one row breaks the schema; ``index`` is its position in the loaded dataset."""
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


def _batch_rows(batch: dict[str, list]) -> Iterator[dict[str, Any]]:
    keys = list(batch)
    for values in zip(*(batch[k] for k in keys), strict=True):
        yield dict(zip(keys, values, strict=True))


def check_columns(columns: Iterable[str], required: Iterable[str], origin: str) -> None:
    """Raise DataError naming every required column that is missing."""
    present = list(columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise DataError(
            f"{origin}: missing column(s) {missing}; present: {present}. "
            "Rename the dataset's columns with data.column_map (dataset name -> Open-R1 name)."
        )


def validate_rows(rows: Iterable[dict[str, Any]], origin: str, required: Iterable[str]) -> int:
    """Check plain dict rows (before Arrow sees them); returns the number of rows."""
    n = 0
    required = tuple(required)
    for i, row in enumerate(rows):
        missing = [c for c in required if c not in row]
        if missing:
            raise DataError(f"{origin}: row {i} has no column(s) {missing}; present: {sorted(row)}")
        _check_row(i, row, origin)
        n += 1
    return n


def validate_dataset(
    ds: datasets.Dataset, origin: str, required: Iterable[str], batch_size: int = 1000
) -> None:
    """Check a loaded dataset's columns, then every row; only the columns the checks read are scanned."""
    check_columns(ds.column_names, required, origin)
    cols = [c for c in ("problem", "generations", *ALIGNED_COLUMNS) if c in ds.column_names]
    offset = 0
    for batch in ds.select_columns(cols).iter(batch_size=batch_size):
        for k, row in enumerate(_batch_rows(batch)):
            _check_row(offset + k, row, origin)
        offset += len(batch["problem"])


# ---------------------------------------------------------------------------------------------------------------
# column mapping


def apply_column_map(ds: datasets.Dataset, column_map: dict[str, str], origin: str) -> datasets.Dataset:
    """Rename dataset columns to Open-R1 names; a dotted key (``correctness.llama_verification``) reads a struct field."""
    if not column_map:
        return ds
    if any("." in k for k in column_map):
        ds = ds.flatten()
    present = ds.column_names
    missing = [k for k in column_map if k not in present]
    if missing:
        raise DataError(
            f"{origin}: data.column_map names column(s) {missing} that are not in the data; present: {present}"
        )
    targets = list(column_map.values())
    dup = sorted({t for t in targets if targets.count(t) > 1})
    if dup:
        raise DataError(f"data.column_map: several columns map to {dup}")
    clash = [t for t in targets if t in present and t not in column_map]
    if clash:
        # the old column of that name would shadow the mapped one: drop it, loudly
        log.warning("%s: column(s) %s replaced by data.column_map", origin, clash)
        ds = ds.remove_columns(clash)
    return ds.rename_columns(dict(column_map))


# ---------------------------------------------------------------------------------------------------------------
# loading


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    """Parse a JSON array or JSON-lines file in Python (used to find the bad row when Arrow refuses the file)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {lineno} is not valid JSON: {e}") from e
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {i} is not a JSON object: {row!r:.60}")
    return rows


def _rename_rows(rows: list[dict[str, Any]], column_map: dict[str, str]) -> list[dict[str, Any]]:
    def get(row: dict[str, Any], dotted: str) -> Any:
        value: Any = row
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    out = []
    for row in rows:
        new = {k: v for k, v in row.items() if k not in column_map.values()}
        for src, dst in column_map.items():
            new[dst] = get(row, src)
        out.append(new)
    return out


def _load_local(path_str: str, column_map: dict[str, str], required: tuple[str, ...]) -> datasets.Dataset:
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise DataError(f"data.path: no such file {str(path)!r}")
    kind = LOCAL_EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"data.path: {str(path)!r} has extension {path.suffix!r}; expected one of {sorted(LOCAL_EXTENSIONS)}"
        )
    try:
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as arrow_error:  # noqa: BLE001 - Arrow's type errors do not say which row; find it ourselves
        if kind != "json":
            raise DataError(f"{path}: could not read the parquet file: {arrow_error}") from arrow_error
        rows = _rename_rows(_read_json_rows(path), column_map)
        validate_rows(rows, str(path), required)
        raise DataError(
            f"{path}: rows pass the schema checks but Arrow could not load them: {arrow_error}"
        ) from arrow_error
    return apply_column_map(ds, column_map, str(path))


def _load_hub(cfg: DataConfig) -> datasets.Dataset:
    if not cfg.hub_id:
        raise DataError("data.hub_id: required when data.source=hub")
    origin = f"{cfg.hub_id}[{cfg.hub_config or 'default'}:{cfg.split}]"
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
        raise DataError(f"{origin}: expected one split, got {type(ds).__name__}; set data.split")
    return apply_column_map(ds, cfg.column_map, origin)


def origin_of(cfg: DataConfig) -> str:
    """A short human-readable name of where the traces come from, used in messages."""
    if cfg.source == "hub":
        return f"{cfg.hub_id}[{cfg.hub_config or 'default'}:{cfg.split}]"
    if cfg.source == "local":
        return str(cfg.path)
    return "synthetic teacher"


def _plain_config(node: Any) -> Any:
    from omegaconf import OmegaConf

    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return dataclasses.asdict(node) if dataclasses.is_dataclass(node) else node


@functools.lru_cache(maxsize=2)
def _synthetic_traces(settings: str) -> datasets.Dataset:
    """The teacher's rows for these settings, generated once per process (tokenizer training and the builder).

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
        return datasets.Dataset.from_json(cfg.model_teacher.traces)
    return datasets.Dataset.from_list(synthetic.generate_teacher_rows(cfg))


def check_local_file(cfg: DataConfig) -> None:
    """Scan data.path before any parser reads it (size limits, UTF-8, JSON per line, null answers)."""
    from redi.data.checks import DataFileError, scan_local_file

    answer_key = next((src for src, dst in (cfg.column_map or {}).items() if dst == "answer"), "answer")
    try:
        scan_local_file(
            Path(str(cfg.path)).expanduser(),
            max_file_mb=float(getattr(cfg, "max_file_mb", 4096.0)),
            max_row_mb=float(getattr(cfg, "max_row_mb", 4.0)),
            answer_key=answer_key,
        )
    except DataFileError as e:
        raise DataError(str(e)) from None


def load_traces(cfg: DataConfig) -> datasets.Dataset:
    """Load teacher traces in the Open-R1 schema from ``cfg.source`` and check every row.

    hub: ``datasets.load_dataset(hub_id, hub_config, split=split)``; local: jsonl / json / parquet by extension;
    synthetic: :func:`redi.data.synthetic.generate_teacher_rows`. ``cfg.column_map`` renames columns first.
    Raises :class:`DataError` naming the row index and column of the first bad row.
    """
    required = required_columns(cfg.builder.verifiers, cfg.builder.require_complete)
    if cfg.source == "hub":
        ds = _load_hub(cfg)
    elif cfg.source == "local":
        if not cfg.path:
            raise DataError("data.path: required when data.source=local")
        if Path(str(cfg.path)).expanduser().exists():
            check_local_file(cfg)
        ds = _load_local(cfg.path, cfg.column_map, required)
    elif cfg.source == "synthetic":
        ds = _synthetic_traces(json.dumps(_plain_config(cfg.synthetic), sort_keys=True))
        ds = apply_column_map(ds, cfg.column_map, "synthetic teacher")
    else:
        raise DataError(f"data.source: unknown value {cfg.source!r}; expected one of {list(SOURCES)}")
    validate_dataset(ds, origin_of(cfg), required)
    log.info("loaded %d teacher rows from %s", len(ds), origin_of(cfg))
    return ds
