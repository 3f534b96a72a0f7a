"""Batched vs one-at-a-time generation with the HF engine on the tiny model (the project's default shape).

Generates --prompts prompts x --samples samples of --new-tokens tokens (sampling on, EOS suppressed so every
sequence runs to full length and both settings do the same work), once with eval.batch_size=--batch and once with
batch_size=1, and prints wall time, generated tokens/s and the speedup.

    python benchmarks/generation_batching.py [--prompts 16] [--samples 4] [--new-tokens 64] [--batch 64]
"""

from __future__ import annotations

import argparse
import time

import torch

from redi.config import EvalConfig, TinyArchConfig
from redi.model.engines import make_engine
from redi.model.load import build_tiny_model, train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    texts = [
        f"What is {i} + {3 * i}? Add the ones, carry, then the tens: the answer is \\boxed{{{4 * i}}}."
        for i in range(200)
    ]
    tokenizer = train_tokenizer(texts, vocab_size=512, chat_template="chatml_think")
    arch = TinyArchConfig()
    model = build_tiny_model(arch, tokenizer, seed=0)
    model.generation_config.suppress_tokens = [
        tokenizer.convert_tokens_to_ids("<|im_end|>")
    ]  # run to full length
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "What is " + " + ".join(["7"] * (1 + i % 6)) + "?"}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for i in range(args.prompts)
    ]
    print(
        f"tiny model: hidden {arch.hidden_size}, layers {arch.num_hidden_layers}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, {args.threads} threads"
    )
    results = {}
    for batch in (args.batch, 1):
        cfg = EvalConfig(max_new_tokens=args.new_tokens, batch_size=batch, progress_bar=False)
        engine = make_engine(cfg, model, tokenizer)
        engine.generate(prompts[:2], 1, seed=0)  # warm-up
        start = time.perf_counter()
        out = engine.generate(prompts, args.samples, seed=0)
        seconds = time.perf_counter() - start
        tokens = sum(g.num_tokens for gens in out for g in gens)
        results[batch] = seconds
        print(
            f"batch_size {batch:3d}: {len(prompts) * args.samples} sequences, {tokens} tokens in {seconds:6.2f} s "
            f"({tokens / seconds:7.0f} tokens/s)"
        )
    print(f"speedup of batch_size {args.batch} over one at a time: {results[1] / results[args.batch]:.1f}x")


if __name__ == "__main__":
    main()
