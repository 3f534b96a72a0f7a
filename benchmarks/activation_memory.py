"""Bytes autograd keeps for backward, per token, in a Qwen2 decoder layer and in redi's log-prob head (docs/scaling.md).

Measured on the CPU at the real widths of Qwen2.5-Math-1.5B, Qwen2.5-Math-7B and Qwen2.5-32B (bf16 weights, SDPA
attention, as trainer=gpu8 runs them), with models of 1 and 2 decoder layers and two sequence lengths: the tensors
saved for backward are counted once per storage (parameters excluded) through
``torch.autograd.graph.saved_tensors_hooks``. The difference between 2 and 1 layers is one layer's cost; what is
left of the 1-layer model is the embedding, final norm, lm_head and ``redi.loop.logprobs.sequence_logps`` (the
materialised (N, T, V) logits and their float32 log-softmax, one row at a time). Dividing by the tokens gives
bytes per token, which docs/scaling.md multiplies by 19,800. The weights are left uninitialised (``to_empty``):
only shapes and dtypes matter to what is saved. Flash attention on a GPU saves the same O(T) tensors as the CPU
SDPA kernel used here (output and log-sum-exp), so the per-token figures carry over.

    python benchmarks/activation_memory.py [--lengths 128 256] [--models 1.5b 7b 32b]
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


def _model(name: str, layers: int) -> Qwen2ForCausalLM:
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
    model = model.to_empty(device="cpu").to(torch.bfloat16)
    model.model.rotary_emb.inv_freq = 1.0 / (
        10000 ** (torch.arange(0, hidden // heads, 2, dtype=torch.float32) / (hidden // heads))
    )
    return model.train()


def saved_bytes(model: Qwen2ForCausalLM, tokens: int) -> int:
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
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logps, _ = sequence_logps(model, batch)
    del logps
    return sum(seen.values())


def measure(name: str, lengths: list[int]) -> dict[str, float]:
    """Per-token bytes of one layer and of the head, and their spread over ``lengths`` (0 when linear in T)."""
    per_layer, head = [], []
    models = {n: _model(name, n) for n in (1, 2)}
    for t in lengths:
        one, two = (saved_bytes(models[n], t) for n in (1, 2))
        per_layer.append((two - one) / t)
        head.append((one - (two - one)) / t)
    return {
        "layer_bytes_per_token": per_layer[-1],
        "head_bytes_per_token": head[-1],
        "layer_spread": max(per_layer) - min(per_layer),
        "head_spread": max(head) - min(head),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    torch.manual_seed(0)
    for name in args.models:
        print(json.dumps({"model": name, **measure(name, args.lengths)}))


if __name__ == "__main__":
    main()
