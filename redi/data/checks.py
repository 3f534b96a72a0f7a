"""Checks of the data block, the builder's rules and the synthetic teacher, run by redi.validate before any import.

Kept free of datasets and torch; the builder and the loaders check again what only the data itself can show.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redi.validate import Checks

LOCAL_EXTENSIONS = (".jsonl", ".json", ".parquet")


def check_builder(c: Checks) -> None:
    """data.builder: the paper's rules (verifiers, null verdicts, token limits, decontamination)."""
    c.choice("verifiers", ("both", "math_verify", "llama"))
    c.choice("null_verdict", ("other", "incorrect"))
    for key in ("max_prompt_tokens", "max_response_tokens", "decontamination_ngram"):
        c.number(key, low=1, integer=True)
    c.number("max_rows", low=1, integer=True, optional=True, hint="null for every row")


def check_teacher(c: Checks) -> None:
    """data.synthetic: the teacher's own rules (redi.data.synthetic.teacher)."""
    from omegaconf import OmegaConf

    from redi.config import SyntheticTeacherConfig
    from redi.data.synthetic.teacher import validate_teacher_config

    node = c.node
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(vars(node))
    c.guard(lambda: validate_teacher_config(SyntheticTeacherConfig(**values)), ValueError, TypeError)


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
    c.number("max_length", low=1, integer=True)
    c.choice("truncation", ("keep_end", "keep_start", "drop"))
    c.choice("batching", ("grouped", "random", "token_budget"))
    c.number("group_window", low=1, integer=True)
    c.number("max_tokens_per_batch", low=1, integer=True, optional=True)
    if c.get("batching") == "token_budget" and not c.get("max_tokens_per_batch"):
        c.fail(f"{c.key('max_tokens_per_batch')}: required when {c.key('batching')}=token_budget")
    c.number("num_workers", low=0, integer=True)
    c.number("max_file_mb", low=0, low_open=True)
    c.number("max_row_mb", low=0, low_open=True)
    try:
        c.get("prompt_template").format(problem="x")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        c.error("prompt_template", f"must use only {{problem}} ({type(e).__name__}: {e})")
    check_builder(c.sub("builder"))
    if c.get("source") == "synthetic":
        check_teacher(c.sub("synthetic"))
