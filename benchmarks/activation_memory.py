"""Bytes autograd keeps for backward, per token, in a Qwen2 decoder layer and in redi's log-prob head (docs/scaling.md).

Measured on the CPU at the real widths of Qwen2.5-Math-1.5B, Qwen2.5-Math-7B and Qwen2.5-32B with the numerics
trainer=gpu8 runs (``--numerics mixed``, the default: fp32 weights under bf16 autocast; ``bf16``: bf16 weights, no
autocast, what model=qwen2.5-math-1.5b loaded before fp32 master weights), SDPA attention, models of 1 and 2
decoder layers at two sequence lengths: the tensors saved for backward are counted once per storage (parameters
excluded) through ``torch.autograd.graph.saved_tensors_hooks``. The difference between 2 and 1 layers is one
layer's cost; what is left of the 1-layer model is the embedding, final norm and redi's chunked log-prob head
(``redi.loop.logprobs.sequence_logps``: final hidden states in, the target log-prob and log-sum-exp out, the logits
recomputed chunk by chunk in backward). The slope between the two lengths is the bytes per token, which
docs/scaling.md multiplies by the sequence length; what does not grow with the length (autocast's bf16 copies of
the weights, saved for backward) is reported as fixed bytes. The weights are left uninitialised (``to_empty``):
only shapes and dtypes matter to what is saved. Flash attention on a GPU saves the same O(T) tensors as the CPU
SDPA kernel used here (output and log-sum-exp), so the per-token figures carry over.

    python benchmarks/activation_memory.py [--lengths 128 256] [--models 1.5b 7b 32b] [--numerics mixed|bf16]
"""

from __future__ import annotations

import argparse
import json

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from redi.loop.logprobs import TokenBatch, sequence_logps

# (hidden, intermediate, attention heads, key-value heads, vocabulary, tied embeddings) from the models' config.json
SHAPES = {
    "1.5b": (1536, 8960, 12, 2, 151936, True),
    "7b": (3584, 18944, 28, 4, 152064, False),
    "32b": (5120, 27648, 40, 8, 152064, False),
}


def _model(name: str, layers: int, numerics: str) -> Qwen2ForCausalLM:
    hidden, inter, heads, kv, vocab, tied = SHAPES[name]
    cfg = Qwen2Config(
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        vocab_size=vocab,
        tie_word_embeddings=tied,
        max_position_embeddings=32768,
        attn_implementation="sdpa",
    )
    with torch.device("meta"):
        model = Qwen2ForCausalLM(cfg)
    model = model.to_empty(device="cpu").to(torch.float32 if numerics == "mixed" else torch.bfloat16)
    model.model.rotary_emb.inv_freq = 1.0 / (
        10000 ** (torch.arange(0, hidden // heads, 2, dtype=torch.float32) / (hidden // heads))
    )
    return model.train()


def saved_bytes(model: Qwen2ForCausalLM, tokens: int, numerics: str) -> int:
    """Bytes of the distinct storages autograd saves in one forward of a (1, tokens) sequence, parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    ids = torch.randint(0, model.config.vocab_size, (1, tokens))
    batch = TokenBatch(ids, torch.ones_like(ids), torch.ones_like(ids))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=numerics == "mixed")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        logps, _ = sequence_logps(model, batch)
    del logps
    return sum(seen.values())


def measure(name: str, lengths: list[int], numerics: str) -> dict[str, float]:
    """Per-token bytes of one layer and of the head (slopes between the shortest and longest length) and the
    bytes that do not grow with the length (intercepts: autocast's bf16 weight copies)."""
    models = {n: _model(name, n, numerics) for n in (1, 2)}
    short, long = min(lengths), max(lengths)
    b = {(n, t): saved_bytes(models[n], t, numerics) for n in (1, 2) for t in (short, long)}
    layer = {t: b[2, t] - b[1, t] for t in (short, long)}
    head = {t: b[1, t] - layer[t] for t in (short, long)}
    layer_slope = (layer[long] - layer[short]) / (long - short)
    head_slope = (head[long] - head[short]) / (long - short)
    return {
        "numerics": numerics,
        "layer_bytes_per_token": layer_slope,
        "layer_fixed_bytes": layer[short] - layer_slope * short,
        "head_bytes_per_token": head_slope,
        "head_fixed_bytes": head[short] - head_slope * short,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--numerics", default="mixed", choices=["mixed", "bf16"])
    args = parser.parse_args()
    torch.manual_seed(0)
    for name in args.models:
        print(json.dumps({"model": name, **measure(name, args.lengths, args.numerics)}))


if __name__ == "__main__":
    main()
