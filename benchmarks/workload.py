"""The generated workload of the benchmarks: a word-level tokenizer, random Qwen2 models, long-tailed rows.

Every row is token ids drawn from a seeded generator: a prompt (one of a few shared prefixes plus its own question)
and a chosen and a rejected response; whole sequences (prompt + response + EOS) are 32-768 tokens, log-normal
(median ~ 150), so a few long ones dominate the padding of a random batch, as with real reasoning traces. The
texts given to TRL are the same ids written as words ("w17 w5 ..."), which the word-level tokenizer maps back to
exactly these ids, so both frameworks train on identical tokens (checked by the workers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # pad, (unused), EOS
PAD_ID, EOS_ID = 0, 2

# name -> (hidden, layers, heads, kv heads, intermediate); vocab 2,000, tied embeddings
MODELS = {
    "tiny": (256, 4, 4, 2, 768),
    "small": (512, 6, 8, 4, 1536),
}


@dataclass(frozen=True)
class Row:
    prompt: list[int]
    chosen: list[int]  # without EOS
    rejected: list[int]


def _length(rng: np.random.Generator, low: int, high: int) -> int:
    return int(np.clip(rng.lognormal(np.log(150), 0.8), low, high))


def make_rows(n: int, seed: int = 0, vocab: int = 2000) -> list[Row]:
    """``n`` preference rows with long-tailed lengths (32-768 tokens per sequence) and shared prompt prefixes."""
    rng = np.random.default_rng(seed)
    words = np.arange(len(SPECIALS), vocab)
    prefixes = [rng.choice(words, size=int(rng.integers(12, 24))).tolist() for _ in range(4)]
    rows = []
    for _ in range(n):
        prompt = (
            prefixes[int(rng.integers(len(prefixes)))] + rng.choice(words, int(rng.integers(4, 24))).tolist()
        )
        sizes = [max(1, _length(rng, 32, 768) - len(prompt) - 1) for _ in range(2)]
        rows.append(Row(prompt, *(rng.choice(words, size=s).tolist() for s in sizes)))
    return rows


def rows_hash(rows: list[Row]) -> str:
    """sha256 (first 16 hex digits) of the rows' ids: the workload both frameworks ran."""
    blob = json.dumps([[r.prompt, r.chosen, r.rejected] for r in rows]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def text(ids: list[int]) -> str:
    return " ".join(f"w{i}" for i in ids)


def make_tokenizer(vocab: int = 2000):
    """A word-level tokenizer: "w<i>" <-> id i, ChatML specials at 0-2, no BOS, EOS <|im_end|>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    table = {t: i for i, t in enumerate(SPECIALS)} | {f"w{i}": i for i in range(len(SPECIALS), vocab)}
    tok = Tokenizer(models.WordLevel(table, unk_token=SPECIALS[0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=SPECIALS[2],
        pad_token=SPECIALS[0],
        bos_token=None,
        unk_token=SPECIALS[0],
    )
    wrapped.add_special_tokens({"additional_special_tokens": [SPECIALS[1]]})
    return wrapped


def make_model(name: str, seed: int = 0, vocab: int = 2000, attn: str = "sdpa", max_positions: int = 1024):
    """A randomly initialised Qwen2 of the named shape (deterministic given ``seed``), fp32."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hidden, layers, heads, kv, inter = MODELS[name]
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        attn_implementation=attn,
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


def num_parameters(model) -> int:
    """Parameters counted once (tied embeddings once): the N of 6N FLOPs per token."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
