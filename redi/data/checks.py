"""The pre-flight of the data block (source, path, format, builder rules, teacher, self-generated data), run by
redi.validate before any heavy import; the build runs the same checks again (one spelling per rule).

Kept free of datasets and torch: a local path is resolved (file, folder or glob) and, to tell whether its format
has pairs for a preference objective, its first row is read; nothing else of the data is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redi.config.checks import Checks

SOURCES = ("synthetic", "hub", "local")
VERIFIERS = ("both", "math_verify", "llama")
NULL_RULES = ("other", "incorrect")
LENGTH_COUNTS = ("paper", "text")


def check_builder(c: Checks) -> None:
    """data.builder: the paper's rules (verifiers, null verdicts, token limits, length count, decontamination)."""
    c.choice("verifiers", VERIFIERS)
    c.choice("null_verdict", NULL_RULES)
    c.choice("length_count", LENGTH_COUNTS)
    for key in ("max_prompt_tokens", "max_response_tokens", "decontamination_ngram"):
        c.number(key, low=1, integer=True)
    c.number("max_rows", low=1, integer=True, optional=True, hint="null for every row")
    if c.get("decontaminate") not in (None, True, False):
        c.error("decontaminate", "expected true, false or null (null: on for hub and local data)")


def check_prompt_template(c: Checks) -> None:
    try:
        c.get("prompt_template").format(problem="x")
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        c.error("prompt_template", f"must use only {{problem}} ({type(e).__name__}: {e})")


def check_build_settings(c: Checks) -> None:
    """What the build reads from the data block (data.format, data.prompt_template, data.builder): checked by the
    pre-flight and again by the build itself (redi.data.rules.check_builder, through run_check)."""
    from redi.data import formats

    c.choice("format", formats.names(), optional=True)
    check_prompt_template(c)
    check_builder(c.sub("builder"))


def check_teacher(c: Checks) -> None:
    """data.synthetic: the teacher's own rules (redi.data.synthetic.teacher)."""
    from omegaconf import OmegaConf

    from redi.data.synthetic.teacher import teacher_config, validate_teacher_config

    node = c.node
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(vars(node))
    c.guard(lambda: validate_teacher_config(teacher_config(values)), ValueError, TypeError)


def check_source(c: Checks) -> None:
    """data.source with the keys it reads: data.path only with local, data.hub_id with hub."""
    from redi.data.errors import DataError

    c.choice("source", SOURCES)
    source, path = c.get("source"), c.get("path")
    if source == "local":
        if not path:
            c.fail(f"{c.key('path')}: required when {c.key('source')}=local")
        else:
            from redi.data.sources.paths import data_files

            c.guard(lambda: data_files(str(path), c.key("path")), DataError)
    elif path:
        c.fail(
            f"{c.key('path')}={path!r}: read only when {c.key('source')}=local, and {c.key('source')}={source!r}; "
            f"add {c.key('source')}=local to train on this file, or remove {c.key('path')}"
        )
    if source == "hub" and not c.get("hub_id"):
        c.fail(f"{c.key('hub_id')}: required when {c.key('source')}=hub")
    elif source == "hub":  # cached or reachable in seconds (redi.infra.hub), else one line
        from redi.infra.hub import hub_problem

        problem = hub_problem(str(c.get("hub_id")), c.key("hub_id"), "dataset", c.get("hub_revision"))
        if problem:
            c.fail(problem)


def check_format_has_pairs(c: Checks, needs_pairs: bool | None = None) -> None:
    """With a preference objective, a data format that has pairs. For ``auto`` and a local file the first row
    tells the format (nothing else is read)."""
    from redi.data import formats

    name = c.get("format") or formats.AUTO
    if not needs_pairs or c.errors or name not in formats.names():
        return
    fmt = name
    if name == formats.AUTO and c.get("source") == "local":
        fmt = _detected(c)
    if fmt in formats.FORMATS and not formats.FORMATS[fmt].has_pairs:
        how = (
            f"{c.key('format')}={name}"
            if name == fmt
            else f"{c.get('path')} is {fmt} (detected from its columns)"
        )
        c.fail(
            f"{how}: that format has no pairs, so a preference objective has nothing to train on; use "
            "objective=sft, or data with chosen/rejected responses"
        )


def _detected(c: Checks) -> str | None:
    from redi.data import formats
    from redi.data.errors import DataError
    from redi.data.sources import open_source

    try:
        source = open_source(c.node)
        columns, row = source.first_row()
        return formats.detect(columns, row, source.origin).name
    except DataError:
        return None  # the build names the problem with the rows


def check_self_generated(c: Checks) -> None:
    """data.self_generated (only when enabled): every key's range, and the sampling model exists."""
    if c.get("enabled") is not True:
        if c.get("enabled") is not False:
            c.error("enabled", "must be true or false")
        return
    for key in ("num_samples", "max_new_tokens", "batch_size", "pairs_per_problem", "sft_per_problem"):
        c.number(key, low=1, integer=True)
    if c.ok("num_samples") and c.get("num_samples") < 2:
        c.error("num_samples", "a pair needs a correct and an incorrect sample of one problem: use >= 2")
    c.number("seed", low=0, integer=True)
    c.number("temperature", low=0)
    c.number("top_p", low=0, high=1, low_open=True)
    c.number("max_problems", low=1, integer=True, optional=True, hint="null for every training problem")
    from redi.model.checks import ENGINES

    c.choice("engine", ENGINES, optional=True)
    if not isinstance(c.get("drop_truncated"), bool):
        c.error("drop_truncated", "must be true or false")
    model = c.get("model")
    if not isinstance(model, str) or not model.strip():
        c.error("model", 'expected "stage1" or a model directory, run directory or hub id')
    elif model != "stage1":
        from redi.model.resolve import resolve_source
        from redi.model.source import ModelSourceError

        c.guard(lambda: resolve_source(model, c.key("model")), ModelSourceError)


def check_data(c: Checks, needs_pairs: bool | None = None) -> None:
    """The data block: where rows come from, their format, tokenisation limits, batching, the builder, the teacher."""
    check_source(c)
    check_build_settings(c)
    check_format_has_pairs(c, needs_pairs)
    c.number("max_length", low=1, integer=True)
    c.choice("truncation", ("keep_end", "keep_start", "drop"))
    c.choice("batching", ("grouped", "random", "sequential", "token_budget"))
    c.number("group_window", low=1, integer=True)
    c.number("max_tokens_per_batch", low=1, integer=True, optional=True)
    if c.get("batching") == "token_budget" and not c.get("max_tokens_per_batch"):
        c.fail(f"{c.key('max_tokens_per_batch')}: required when {c.key('batching')}=token_budget")
    c.number("num_workers", low=0, integer=True, hint="processes for the data build; 0 = one per core")
    c.number("max_file_mb", low=0, low_open=True)
    c.number("max_row_mb", low=0, low_open=True)
    check_self_generated(c.sub("self_generated"))
    if c.get("source") == "synthetic":
        check_teacher(c.sub("synthetic"))
