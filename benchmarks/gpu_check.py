"""One-GPU check of redi's training step at the paper's model shape: tokens/s, peak memory and MFU.

    python benchmarks/gpu_check.py [--lengths 4096,8192,16384] [--steps 3] [--attn sdpa|flash_attention_2]
        [--compile] [--liger]
    python benchmarks/gpu_check.py --dry          # a tiny shape on the CPU (what the tests run)

Qwen2.5-Math-1.5B's shape (hidden 1536, 28 layers, 12 heads / 2 KV heads, MLP 8960, vocab 151,936) with random
weights and AdamW state in bf16 (as ``model=qwen2.5-math-1.5b`` loads it), gradient checkpointing, one pair (chosen + rejected of the given length
each) per step through redi's own path (length-sorted forwards, chunked log-prob head, REDI loss, fused AdamW).
MFU = 6 N x tokens/s over the bf16 matmul rate measured first on the same device. ``--compile`` compiles every
decoder layer (``trainer.compile=true``), ``--liger`` applies Liger's kernels (``model.liger=true``): run with and
without to see what each buys on your GPU.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from redi.data.tokenize import Encoded
from redi.loop.logprobs import split_pairs
from redi.loop.microbatch import ForwardLayout, sequences_logps
from redi.loop.update_norm import adamw_update_norm
from redi.model.kernels import apply_liger, compile_layers
from redi.objectives import get_objective

PAPER = dict(
    hidden_size=1536,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    intermediate_size=8960,
    vocab_size=151_936,
)
DRY = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=512,
)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    t0, reps = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0:
        a @ b
        reps += 1
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def build(
    shape: dict,
    length: int,
    device: torch.device,
    dtype: torch.dtype,
    attn: str,
    kernels: tuple[str, ...] = (),
):
    config = Qwen2Config(
        **shape,
        max_position_embeddings=max(length, 128),
        tie_word_embeddings=True,
        rope_theta=300000.0,
        attn_implementation=attn,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=dtype)
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    if "liger" in kernels:
        apply_liger(model, device)
    if "compile" in kernels:
        compile_layers(model)
    return model


def step_rate(
    model, length: int, steps: int, device: torch.device, layout: ForwardLayout
) -> tuple[float, float]:
    """(tokens/s over ``steps`` timed steps after one warm-up, peak memory in GB) for one pair per step."""
    vocab = model.config.vocab_size
    seqs = [
        Encoded(torch.randint(1, vocab, (n,)).tolist(), n // 8, False) for n in (length, length - length // 5)
    ]
    fused = {"fused": True} if device.type == "cuda" else {"foreach": True}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, **fused)
    redi = get_objective("redi")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        logps, lengths = sequences_logps(model, seqs, 0, layout, device)
        out = redi(split_pairs(logps, lengths, 1), None, alpha=0.8)
        out.loss().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        adamw_update_norm(opt)
        opt.zero_grad(set_to_none=True)
        _sync(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else float("nan")
    tokens = sum(len(s.ids) for s in seqs)
    return tokens * steps / sum(times[1:]), peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="4096,8192,16384")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--attn", default="sdpa")
    parser.add_argument("--dry", action="store_true", help="tiny shape, CPU, short sequences")
    parser.add_argument("--compile", action="store_true", help="torch.compile every decoder layer")
    parser.add_argument(
        "--liger", action="store_true", help="Liger's RMSNorm, RoPE and SwiGLU kernels (CUDA)"
    )
    args = parser.parse_args(argv)
    if args.dry:
        device, dtype, shape, lengths = torch.device("cpu"), torch.float32, DRY, [64, 128]
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_check: no CUDA device (use --dry to check the script on the CPU)")
        device, dtype, shape = torch.device("cuda"), torch.bfloat16, PAPER
        lengths = [int(x) for x in args.lengths.split(",")]
    peak = matmul_peak(device, dtype, 256 if args.dry else 8192)
    layout = ForwardLayout(mode="packed" if args.attn.startswith("flash") else "padded")
    kernels = tuple(k for k in ("compile", "liger") if getattr(args, k))
    print(
        f"device {device}, {dtype}, attn {args.attn}, kernels {kernels or 'eager'}, matmul peak {peak / 1e12:.2f} TFLOP/s"
    )
    print(f"{'tokens/seq':>10} {'tokens/s':>10} {'peak GB':>8} {'MFU':>6}")
    for length in lengths:
        model = build(shape, length, device, dtype, args.attn, kernels)
        n = sum(p.numel() for p in model.parameters())
        rate, mem = step_rate(model, length, args.steps, device, layout)
        print(f"{length:>10} {rate:>10.0f} {mem:>8.2f} {6 * n * rate / peak:>6.1%}", flush=True)
        del model


if __name__ == "__main__":
    main()
