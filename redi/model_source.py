"""Where the policy's weights come from (hub id, local directory, stage-1 run) and the model group's checks.

Kept free of torch and transformers so the pre-flight (redi.validate) can check a config in a fraction of a
second, before any heavy import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redi.validate import Checks

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


class ModelSourceError(ValueError):
    """init_from / base names something that cannot be loaded."""


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: kind is "dir" (a Hugging Face model directory), "hub" (a hub id) or "adapter" (a
    peft adapter directory merged into ``base`` at load); ``tokenizer``: where the tokenizer is when not beside
    the weights (a Trainer checkpoint saved without one)."""

    kind: str
    location: str
    tokenizer: str | None = None
    base: str | None = None

    def __str__(self) -> str:
        return self.location


def resolve_source(value: str, key: str, tokenizer: str | None = None) -> ModelSource:
    """Classify a hub id / local directory / run directory, failing fast (naming ``key``) on a missing path.

    A run directory (holding status.json and model/) resolves to its model/ directory and must be completed; a
    Trainer checkpoint as redi.hf_checkpoint says (``tokenizer``: model.tokenizer, when set).
    """
    path = Path(os.path.expanduser(value))
    looks_local = value.startswith((".", "/", "~")) or path.exists() or not _HUB_ID.match(value)
    if not looks_local:
        from redi.infra.hub import hub_problem

        problem = hub_problem(value, key)  # cached, or the hub answers in seconds: else one clear line, now
        if problem:
            raise ModelSourceError(problem)
        return ModelSource("hub", value)
    if not path.exists():
        raise ModelSourceError(
            f"{key}: local path {value!r} does not exist (and it is not a hub id like org/name)"
        )
    if (path / "status.json").exists():
        try:
            status = json.loads((path / "status.json").read_text())
        except ValueError as e:
            raise ModelSourceError(f"{key}: {str(path / 'status.json')!r} is not valid JSON ({e})") from e
        if not (path / "model").is_dir():
            raise ModelSourceError(
                f"{key}: run directory {value!r} has no model/ (its state is {status.get('state')!r}); "
                "finish that run first"
            )
        path = path / "model"
    from redi.hf_checkpoint import is_trainer_dir, resolve_trainer_dir

    if is_trainer_dir(path):  # a Trainer checkpoint-N, its output directory, or a peft adapter checkpoint
        return resolve_trainer_dir(path, key, tokenizer)
    if not (path / "config.json").exists():
        raise ModelSourceError(f"{key}: {str(path)!r} is not a Hugging Face model directory (no config.json)")
    return ModelSource("dir", str(path.resolve()))


def check_model(c: Checks, *, wants_init: bool, max_length: int | None) -> None:
    """The model group: sources that exist, dtype/attention names, and a tiny architecture that can be built."""
    if c.get("base") is not None:
        c.guard(lambda: resolve_source(c.get("base"), c.key("base")), ModelSourceError)
    if wants_init and c.get("init_from") != "stage1":
        c.guard(
            lambda: resolve_source(c.get("init_from"), c.key("init_from"), c.get("tokenizer")),
            ModelSourceError,
        )
    c.choice("dtype", ("float32", "bfloat16", "float16"))
    c.choice("attn_implementation", ("sdpa", "eager", "flash_attention_2"))
    if c.get("attn_implementation") == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        c.fail(
            f"{c.key('attn_implementation')}=flash_attention_2 but the flash_attn package is not installed"
        )
    for key in ("rope_theta", "max_position_embeddings"):
        c.number(key, low=0, low_open=True, optional=True)
    if c.get("base") is not None:
        return
    a = c.sub("arch")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "max_position_embeddings"):  # fmt: skip
        a.number(key, low=1, integer=True)
    a.number("rope_theta", low=0, low_open=True)
    a.number("vocab_size", low=MIN_VOCAB, integer=True)
    if a.ok("hidden_size", "num_attention_heads", "num_key_value_heads"):
        hidden, heads, kv = a.get("hidden_size"), a.get("num_attention_heads"), a.get("num_key_value_heads")
        if hidden % heads or (hidden // heads) % 2:
            a.error(
                "hidden_size",
                f"must be a multiple of num_attention_heads={heads} with an even head size (RoPE)",
            )
        if heads % kv:
            a.error("num_key_value_heads", f"must divide num_attention_heads={heads}")
    if (
        max_length is not None
        and a.ok("max_position_embeddings")
        and a.get("max_position_embeddings") < max_length
    ):
        a.error(
            "max_position_embeddings",
            f"is shorter than data.max_length={max_length}: the longest rows would not fit the model",
        )


MIN_VOCAB = 256 + 3  # the byte alphabet of the tiny model's BPE tokenizer plus its three special tokens
