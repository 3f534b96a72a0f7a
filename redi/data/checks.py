"""Checks of the data block, the builder's rules and the synthetic teacher, run by redi.validate before any import.

Kept free of datasets and torch; the builder and the loaders check again what only the data itself can show.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redi.config.checks import Checks

LOCAL_EXTENSIONS = (".jsonl", ".json", ".parquet")
VERIFIERS = ("both", "math_verify", "llama")
NULL_RULES = ("other", "incorrect")
LENGTH_COUNTS = ("paper", "text")  # how D_Pref's token limits count a response (redi.data.builder)
FORMATS = ("auto", "openr1", "trl_preference", "trl_prompt_completion")  # redi.data.formats


def check_builder(c: Checks) -> None:
    """data.builder: the paper's rules (verifiers, null verdicts, token limits and how they count, decontamination)."""
    c.choice("verifiers", VERIFIERS)
    c.choice("null_verdict", NULL_RULES)
    c.choice("length_count", LENGTH_COUNTS)
    for key in ("max_prompt_tokens", "max_response_tokens", "decontamination_ngram"):
        c.number(key, low=1, integer=True)
    c.number("max_rows", low=1, integer=True, optional=True, hint="null for every row")


def check_build_settings(c: Checks) -> None:
    """What the build reads from the data block (data.format, data.prompt_template, data.builder): checked by the
    pre-flight and again by the builder itself (redi.data.builder.validate_builder_config)."""
    c.choice("format", FORMATS, optional=True)
    try:
        c.get("prompt_template").format(problem="x")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        c.error("prompt_template", f"must use only {{problem}} ({type(e).__name__}: {e})")
    check_builder(c.sub("builder"))


def check_teacher(c: Checks) -> None:
    """data.synthetic: the teacher's own rules (redi.data.synthetic.teacher)."""
    from omegaconf import OmegaConf

    from redi.data.synthetic.teacher import teacher_config, validate_teacher_config

    node = c.node
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(vars(node))
    c.guard(lambda: validate_teacher_config(teacher_config(values)), ValueError, TypeError)


def check_local_path(c: Checks) -> None:
    path = c.get("path")
    if not path:
        c.fail(f"{c.key('path')}: required when {c.key('source')}=local")
        return
    p = Path(str(path)).expanduser()
    if p.is_dir():
        c.error("path", "is a directory; give one .jsonl, .json or .parquet file")
    elif not p.exists():
        c.error("path", "file does not exist")
    elif p.suffix.lower() not in LOCAL_EXTENSIONS:
        c.error("path", f"has extension {p.suffix!r}; expected one of {', '.join(LOCAL_EXTENSIONS)}")


def check_data(c: Checks) -> None:
    """The data block: where traces come from, tokenisation limits, batching, the builder and the teacher."""
    c.choice("source", ("synthetic", "hub", "local"))
    if c.get("source") == "local":
        check_local_path(c)
    if c.get("source") == "hub" and not c.get("hub_id"):
        c.fail(f"{c.key('hub_id')}: required when {c.key('source')}=hub")
    elif c.get("source") == "hub":  # cached or reachable in seconds (redi.infra.hub), else one line
        from redi.infra.hub import hub_problem

        problem = hub_problem(str(c.get("hub_id")), c.key("hub_id"), "dataset", c.get("hub_revision"))
        if problem:
            c.fail(problem)
    c.number("max_length", low=1, integer=True)
    c.choice("truncation", ("keep_end", "keep_start", "drop"))
    c.choice("batching", ("grouped", "random", "sequential", "token_budget"))
    c.number("group_window", low=1, integer=True)
    c.number("max_tokens_per_batch", low=1, integer=True, optional=True)
    if c.get("batching") == "token_budget" and not c.get("max_tokens_per_batch"):
        c.fail(f"{c.key('max_tokens_per_batch')}: required when {c.key('batching')}=token_budget")
    c.number("num_workers", low=0, integer=True)
    c.number("max_file_mb", low=0, low_open=True)
    c.number("max_row_mb", low=0, low_open=True)
    check_build_settings(c)
    from redi.data.self_generated import check_self_generated

    check_self_generated(c.sub("self_generated"))
    if c.get("source") == "synthetic":
        check_teacher(c.sub("synthetic"))


# ---------------------------------------------------------------------------------------------------------------
# the local data file itself, scanned before any parser (Arrow, the tokenizer trainer) sees it


class DataFileError(ValueError):
    """A local data file that cannot be used; the message names the file, line and field."""


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def scan_local_file(path: Path, *, max_file_mb: float, max_row_mb: float, answer_key: str = "answer") -> None:
    """Refuse an empty, oversized or malformed local data file, naming the file, line and field.

    JSON lines are read one at a time in bounded pieces, so a single huge line is refused before it is held
    in memory whole: a row larger than ``data.max_row_mb`` or a file larger than ``data.max_file_mb`` is an
    error that says the limit and how to raise it. Each line must be UTF-8 and a JSON object whose
    ``answer_key`` is not null.
    """
    path = Path(path)
    if path.is_dir():
        raise DataFileError(
            f"data.path={str(path)!r}: is a directory; give one .jsonl, .json or .parquet file"
        )
    if path.suffix.lower() not in LOCAL_EXTENSIONS:
        raise DataFileError(
            f"data.path={str(path)!r}: has extension {path.suffix!r}; expected one of {', '.join(LOCAL_EXTENSIONS)}"
        )
    size = path.stat().st_size
    if size > max_file_mb * 2**20:
        raise DataFileError(
            f"{path}: {_mb(size)}, more than data.max_file_mb={max_file_mb:g}; raise data.max_file_mb "
            "if the file is meant to be this big"
        )
    if path.suffix.lower() == ".parquet":
        if size == 0:
            raise DataFileError(f"{path}: the file is empty (0 bytes)")
        return
    _scan_json_lines(path, max_row_mb, answer_key)


def _scan_json_lines(path: Path, max_row_mb: float, answer_key: str) -> None:
    import json

    limit = int(max_row_mb * 2**20)
    rows = 0
    array = False
    with open(path, "rb") as f:
        lineno = 0
        while True:
            line = f.readline(limit + 1)
            if not line:
                break
            lineno += 1
            if len(line) > limit and not line.endswith(b"\n"):
                raise DataFileError(
                    f"{path}: line {lineno} is longer than data.max_row_mb={max_row_mb:g} "
                    f"({_mb(limit)}); one row that large would exhaust memory in tokenisation. Raise "
                    f"data.max_row_mb if rows are meant to be this long"
                )
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFileError(
                    f"{path}: line {lineno}, byte {e.start + 1}: not UTF-8 ({line[e.start : e.start + 4]!r}); "
                    "save the file as UTF-8"
                ) from None
            if not text.strip():
                continue
            if rows == 0 and text.lstrip().startswith("["):
                array = True  # a JSON array: parsed by the loader, which names the row
            if array:
                rows += 1
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataFileError(
                    f"{path}: line {lineno} is not valid JSON (column {e.colno}: {e.msg})"
                ) from None
            if not isinstance(row, dict):
                raise DataFileError(
                    f"{path}: line {lineno}: expected a JSON object, got {type(row).__name__}"
                )
            if answer_key in row and row[answer_key] is None:
                raise DataFileError(
                    f"{path}: line {lineno}, field {answer_key!r}: null (every row needs an answer)"
                )
            rows += 1
    if rows == 0:
        raise DataFileError(
            f"{path}: the file is empty ({size_text(path)}): expected JSON objects, one per line, or a JSON array"
        )


def size_text(path: Path) -> str:
    n = Path(path).stat().st_size
    return f"{n} bytes" if n < 2**20 else _mb(n)
