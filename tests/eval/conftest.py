"""Fixtures for evaluation tests: a tiny Qwen2 model with a byte-level BPE tokenizer and a ChatML template."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "benchmarks"
GRADED_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "graded"


def build_tiny(seed: int = 0):
    """(model, tokenizer): Qwen2 with hidden 32, one layer; tokenizer trained on a few math sentences."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from redi.model.chat_templates import get_template

    specials = ["<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        "What is 12 + 30? The answer is \\boxed{42}.",
        "Solve x^2 = 4, so x = 2.",
        "<think>\nuser assistant",
    ] * 20
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>")
    tokenizer.chat_template = get_template("chatml_think")
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=256,
        eos_token_id=eos,
        pad_token_id=eos,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    return model, tokenizer


@pytest.fixture(scope="session")
def tiny():
    return build_tiny()


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    if not BENCHMARKS_DIR.is_dir():
        pytest.skip(
            f"real benchmark files not found at {BENCHMARKS_DIR} (../shared/data is absent in a fresh clone)"
        )
    return BENCHMARKS_DIR


@pytest.fixture(scope="session")
def graded_dir() -> Path:
    if not GRADED_DIR.is_dir():
        pytest.skip(
            f"graded answer files not found at {GRADED_DIR} (../shared/data is absent in a fresh clone)"
        )
    return GRADED_DIR
