"""Checks of the model group (``model.*``), run by redi.validate before any heavy import."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from redi.model.resolve import resolve_source
from redi.model.source import ModelSourceError

if TYPE_CHECKING:
    from redi.config.checks import Checks

ENGINES = (
    "hf",
    "vllm",
)  # the generation engines (redi.model.engines): eval.engine, data.self_generated.engine
MIN_VOCAB = 256 + 3  # the byte alphabet of the tiny model's BPE tokenizer plus its three special tokens


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
