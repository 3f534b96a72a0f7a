"""Training data in the formats the field uses: Open-R1 traces, TRL's preference and prompt-completion formats.

``data.format`` names the format or, with ``auto`` (the default), it is detected from the columns (after
``data.column_map``):

- ``openr1``: one row per problem with ``generations`` and per-trace verdicts; the paper's rules build D_SFT and
  D_Pref (redi.data.builder).
- ``trl_preference``: TRL's preference format, ``prompt`` / ``chosen`` / ``rejected``, each plain text
  ("standard") or a list of chat messages ("conversational"); without ``prompt`` the prompt is implicit (the
  longest shared start of chosen and rejected, as TRL's ``extract_prompt`` does). The rows already are pairs:
  D_Pref = every pair; D_SFT = the chosen response, one per distinct prompt (the first after the shuffle).
- ``trl_prompt_completion``: TRL's prompt-completion format (``prompt`` / ``completion``), for SFT: D_SFT = every
  row; it has no pairs.

The builder's generic rules apply to TRL data as to Open-R1 data: ``max_rows``, ``drop_sources`` (when a
``source`` column exists), decontamination against the benchmarks, the shuffle with ``shuffle_seed`` and the
prompt/response token limits; the verdict rules have nothing to act on. A plain-text prompt becomes the user
turn (through ``data.prompt_template``), as an Open-R1 problem does; a conversational prompt is used as its
messages (system turns included). A conversational chosen/rejected/completion must be one assistant message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from redi.data.checks import FORMATS
from redi.data.openr1 import LOCAL_EXTENSIONS, DataError, _read_json_rows, apply_column_map, origin_of

log = logging.getLogger(__name__)

DETECTED = "detected from the columns"
MESSAGES_COLUMN = "prompt_messages"  # JSON of a conversational prompt's messages ("" for a plain prompt)


@dataclass(frozen=True)
class DataFormat:
    """A resolved format: name, style ("standard" | "conversational" | "" for openr1), implicit prompt."""

    name: str
    style: str = ""
    implicit_prompt: bool = False
    how: str = (
        "data.format"  # how it was chosen: data.format | detected from the columns | the synthetic teacher
    )

    @property
    def detected(self) -> bool:
        return self.how.startswith("detected")

    def describe(self) -> str:
        how = self.how
        if self.name == "openr1":
            return f"data format: openr1 ({how}); the paper's rules build D_SFT and D_Pref"
        prompt = ", implicit prompt" if self.implicit_prompt else ""
        rule = (
            "D_Pref = its pairs, D_SFT = the chosen response of each distinct prompt"
            if self.name == "trl_preference"
            else "D_SFT = its completions, no pairs"
        )
        return f"data format: {self.name} ({self.style}{prompt}; {how}); {rule}"


# ---------------------------------------------------------------------------------------------------------------
# detection


def _peek_local(path: Path) -> tuple[list[str], dict[str, Any]]:
    """Columns and first row of a local jsonl / json / parquet file, without loading all of it."""
    kind = LOCAL_EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"data.path: {str(path)!r} has extension {path.suffix!r}; expected one of {sorted(LOCAL_EXTENSIONS)}"
        )
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(path).read_row_group(0)
        except Exception as e:  # noqa: BLE001 - pyarrow's many error types; name the file
            raise DataError(f"{path}: could not read the parquet file: {e}") from e
        rows = table.slice(0, 1).to_pylist()
        return table.column_names, rows[0] if rows else {}
    with path.open(encoding="utf-8") as f:
        head = f.read(1)
        while head.isspace():
            head = f.read(1)
    if head == "[":
        rows = _read_json_rows(path)
    else:
        with path.open(encoding="utf-8") as f:
            line = next((ln for ln in f if ln.strip()), "")
        try:
            rows = [json.loads(line)] if line else []
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: the first row is not valid JSON: {e}") from e
    if not rows or not isinstance(rows[0], dict):
        raise DataError(f"{path}: no rows (expected JSON objects, one per line, or a JSON array of them)")
    return list(rows[0]), rows[0]


def _renamed(columns: list[str], row: dict[str, Any], column_map: dict[str, str]):
    plain = {k: v for k, v in column_map.items() if "." not in k}
    cols = [plain.get(c, c) for c in columns if c not in plain.values() or c in plain]
    return cols, {plain.get(k, k): v for k, v in row.items()}


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) for m in value)


def detect(columns: Iterable[str], row: dict[str, Any], origin: str) -> DataFormat:
    """The format of a dataset from its column names and first row; raises DataError naming what was found."""
    cols = set(columns)
    if "generations" in cols:
        return DataFormat("openr1", how=DETECTED)
    if {"chosen", "rejected"} <= cols:
        style = "conversational" if _is_messages(row.get("chosen")) else "standard"
        return DataFormat("trl_preference", style, implicit_prompt="prompt" not in cols, how=DETECTED)
    if {"prompt", "completion"} <= cols:
        if "label" in cols:
            raise DataError(
                f"{origin}: columns prompt/completion/label are TRL's unpaired preference format, which has no "
                "pairs; redi needs prompt/chosen/rejected (or prompt/completion without label for SFT)"
            )
        style = "conversational" if _is_messages(row.get("prompt")) else "standard"
        return DataFormat("trl_prompt_completion", style, how=DETECTED)
    raise DataError(
        f"{origin}: cannot tell the data format from the columns {sorted(cols)}; expected Open-R1 "
        "(problem, answer, generations, verdicts), TRL preference (prompt, chosen, rejected; prompt optional) or "
        "TRL prompt-completion (prompt, completion). Rename columns with data.column_map or set data.format"
    )


def _load_hub_raw(cfg: Any) -> datasets.Dataset:
    """``datasets.load_dataset`` of the configured hub id (or a local dataset directory given as hub_id)."""
    if not cfg.hub_id:
        raise DataError("data.hub_id: required when data.source=hub")
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
        raise DataError(f"{origin_of(cfg)}: expected one split, got {type(ds).__name__}; set data.split")
    return ds


def resolve_format(cfg: Any) -> DataFormat:
    """The format of ``cfg``'s data: synthetic is openr1; a named format is checked against the columns."""
    name = getattr(cfg, "format", "auto") or "auto"
    if name not in FORMATS:
        raise DataError(f"data.format: {name!r} is not one of {list(FORMATS)}")
    if cfg.source == "synthetic":
        if name not in ("auto", "openr1"):
            raise DataError(f"data.format={name}: the synthetic teacher writes openr1 traces")
        return DataFormat("openr1", how="the synthetic teacher")
    if cfg.source == "local":
        if not cfg.path:
            raise DataError("data.path: required when data.source=local")
        path = Path(str(cfg.path)).expanduser()
        if not path.is_file():
            raise DataError(f"data.path: no such file {str(path)!r}")
        columns, row = _peek_local(path)
    elif cfg.source == "hub":
        ds = _load_hub_raw(cfg)
        columns, row = ds.column_names, (ds[0] if len(ds) else {})
    else:
        raise DataError(f"data.source: unknown value {cfg.source!r}; expected synthetic | hub | local")
    columns, row = _renamed(list(columns), dict(row), dict(cfg.column_map or {}))
    found = detect(columns, row, origin_of(cfg)) if name == "auto" or "generations" not in columns else None
    if name == "auto":
        return found  # type: ignore[return-value]
    if name == "openr1":
        return DataFormat("openr1")
    if found is None or found.name != name:
        need = "chosen, rejected (prompt optional)" if name == "trl_preference" else "prompt, completion"
        raise DataError(
            f"data.format={name}: {origin_of(cfg)} has columns {sorted(columns)}, expected {need}; "
            "rename columns with data.column_map"
        )
    return DataFormat(found.name, found.style, found.implicit_prompt)


# ---------------------------------------------------------------------------------------------------------------
# rows


def _assistant_text(value: Any, where: str) -> str:
    """The text of a response cell: a string, or a list holding one assistant message."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: empty response")
        return value
    if _is_messages(value):
        if len(value) != 1 or value[0].get("role") != "assistant":
            roles = [m.get("role") for m in value]
            raise DataError(f"{where}: expected one assistant message, got roles {roles}")
        content = value[0].get("content")
        if not isinstance(content, str) or not content.strip():
            raise DataError(f"{where}: the assistant message has no text content (got {content!r:.60})")
        return content
    raise DataError(f"{where}: expected a string or a list of chat messages, got {type(value).__name__}")


def _prompt(value: Any, where: str) -> tuple[str, str]:
    """(problem text, messages JSON or "") of a prompt cell; the problem text is the last user turn."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: empty prompt")
        return value, ""
    if _is_messages(value) and value:
        for j, m in enumerate(value):
            if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise DataError(
                    f"{where}[{j}]: a chat message needs string 'role' and 'content', got {m!r:.80}"
                )
        users = [m["content"] for m in value if m["role"] == "user"]
        if not users:
            raise DataError(f"{where}: the prompt's messages have no user turn")
        clean = [{"role": m["role"], "content": m["content"]} for m in value]
        return users[-1], json.dumps(clean, ensure_ascii=False)
    raise DataError(f"{where}: expected a string or a non-empty list of chat messages, got {value!r:.60}")


def _split_implicit(chosen: Any, rejected: Any, where: str) -> tuple[Any, Any, Any]:
    """(prompt, chosen, rejected) from two full sequences: the prompt is their longest shared start."""
    if isinstance(chosen, str) and isinstance(rejected, str):
        idx = 0
        while idx < min(len(chosen), len(rejected)) and chosen[idx] == rejected[idx]:
            idx += 1
        if 0 < idx < len(chosen) and chosen[idx - 1] == " ":  # the space belongs to the responses (as TRL)
            idx -= 1
    elif _is_messages(chosen) and _is_messages(rejected):
        idx = 0
        while idx < min(len(chosen), len(rejected)) and chosen[idx] == rejected[idx]:
            idx += 1
    else:
        raise DataError(f"{where}: chosen and rejected must both be text or both be lists of chat messages")
    if idx == 0:
        raise DataError(f"{where}: no prompt column and chosen/rejected share no start to take it from")
    return chosen[:idx], chosen[idx:], rejected[idx:]


def normalise_row(row: dict[str, Any], fmt: DataFormat, where: str) -> dict[str, str]:
    """One TRL row as {problem, prompt_messages, chosen, rejected | completion, answer, source}."""
    if fmt.name == "trl_preference":
        chosen, rejected = row.get("chosen"), row.get("rejected")
        prompt = row.get("prompt")
        if fmt.implicit_prompt:
            prompt, chosen, rejected = _split_implicit(chosen, rejected, where)
        problem, messages = _prompt(prompt, f"{where}, column 'prompt'")
        out = {
            "chosen": _assistant_text(chosen, f"{where}, column 'chosen'"),
            "rejected": _assistant_text(rejected, f"{where}, column 'rejected'"),
        }
    else:
        problem, messages = _prompt(row.get("prompt"), f"{where}, column 'prompt'")
        out = {"completion": _assistant_text(row.get("completion"), f"{where}, column 'completion'")}
    answer = row.get("answer")
    source = row.get("source")
    return {
        "problem_id": str(row["id"]) if row.get("id") is not None else "",
        "problem": problem,
        MESSAGES_COLUMN: messages,
        **out,
        "answer": "" if answer is None else str(answer),
        "source": source if isinstance(source, str) else "",
    }


def load_rows(cfg: Any, fmt: DataFormat) -> list[dict[str, str]]:
    """Every row of a TRL-format source, normalised and checked (DataError names the row and column)."""
    origin = origin_of(cfg)
    if cfg.source == "hub":
        ds = _load_hub_raw(cfg)
    else:
        path = Path(str(cfg.path)).expanduser()
        kind = LOCAL_EXTENSIONS[path.suffix.lower()]
        try:
            ds = datasets.load_dataset(kind, data_files=str(path), split="train")
        except Exception as arrow_error:  # noqa: BLE001 - Arrow does not say which row; find it ourselves
            if kind != "json":
                raise DataError(f"{path}: could not read the parquet file: {arrow_error}") from arrow_error
            raw = _read_json_rows(path)
            rows = [{(cfg.column_map or {}).get(k, k): v for k, v in r.items()} for r in raw]
            for i, row in enumerate(rows):
                normalise_row(row, fmt, f"{origin}: row {i}")
            raise DataError(
                f"{path}: rows pass the checks but Arrow could not load them: {arrow_error}"
            ) from (arrow_error)
    ds = apply_column_map(ds, dict(cfg.column_map or {}), origin)
    rows = [normalise_row(row, fmt, f"{origin}: row {i}") for i, row in enumerate(ds)]
    for i, row in enumerate(rows):  # the row's own id, else its number in the source (before any filter)
        row["problem_id"] = row["problem_id"] or f"row-{i}"
    return rows


def prompts_of(table: datasets.Dataset) -> list[str | list[dict[str, str]]]:
    """The prompt of every built row: its messages when the source was conversational, else its problem text."""
    problems = table["problem"]
    if MESSAGES_COLUMN not in table.column_names:
        return list(problems)
    return [json.loads(m) if m else p for p, m in zip(problems, table[MESSAGES_COLUMN], strict=True)]
