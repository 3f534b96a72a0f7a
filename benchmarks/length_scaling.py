"""How one training step grows with the sequence length: time per token and peak memory (docs/scaling.md).

    nice -n 8 python benchmarks/length_scaling.py [--model small] [--lengths 1024,4096,8192,16384,19800]
        [--checkpointing off,on] [--prompt 200] [--rejected-ratio 1.0] [--threads 1]

Every point is a fresh subprocess (so its peak memory is its own) that trains the benchmarks' random Qwen2 (fp32,
SDPA attention, one thread) on one REDI pair (alpha 0.8): a shared prompt and a chosen and a rejected response of
``L`` tokens each (the rejected one ``rejected-ratio`` x ``L``: below 1 the pair pads or splits), through redi's
own step (``Step``: length-sorted forwards, the chunked head, the loss, backward) and AdamW. After a warm-up step
on a short pair (gradients and AdamW's state exist from then on) the resident set's high-water mark is reset
(``/proc/self/clear_refs``), so the peak reported is what the step at ``L`` added on top of the model, its
gradients and the optimizer state. The worker runs with glibc's mmap threshold fixed at 1 MiB
(``MALLOC_MMAP_THRESHOLD_``): every tensor above it is mapped on allocation and unmapped when freed, so the
resident set follows the live tensors (with the default, adaptive threshold, tensors up to 32 MB come from a heap
that keeps freed memory, and the peak depends on which lengths cross 32 MB). The attention kernel the CPU dispatched is read from torch.profiler on a
short pair of the same layout. The machine's load average is printed beside every timing: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import EOS_ID, PAD_ID, make_model  # noqa: E402

WARMUP_TOKENS = 64
MMAP_THRESHOLD = 1 << 20  # bytes: larger allocations are mapped and unmapped, never kept in a heap
KERNELS = {  # the aten kernels behind scaled_dot_product_attention on a CPU, and what the table calls them
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash (CPU)",
    "aten::_scaled_dot_product_attention_math": "math",
    "aten::_scaled_dot_product_efficient_attention": "efficient",
}


def _status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS: resident now; VmHWM: its high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _pairs(lengths: list[tuple[int, int]], prompt: int):
    """EncodedRows of one pair per (chosen, rejected) response length, sharing a ``prompt``-token prompt."""
    import torch

    from redi.data.tokenize import Encoded, EncodedRows

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 2000, (prompt + 2 * max(max(p) for p in lengths),), generator=g).tolist()
    chosen = [Encoded(ids[: prompt + c] + [EOS_ID], prompt, False) for c, _ in lengths]
    rejected = [Encoded(ids[:prompt] + ids[-r:] + [EOS_ID], prompt, False) for _, r in lengths]
    return EncodedRows(
        chosen, rejected, [max(len(a.ids), len(b.ids)) for a, b in zip(chosen, rejected, strict=True)], 0, 0
    )


def _attention_kernels(model, rows, index: int) -> list[str]:
    """The SDPA kernels one forward and backward of pair ``index`` ran (torch.profiler), by their short names."""
    from torch.profiler import ProfilerActivity, profile

    from redi.loop.microbatch import resolve_layout, rows_logps

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        out = rows_logps(model, rows, [index], PAD_ID, resolve_layout("auto", model), "cpu")
        (out.chosen_logps.sum() + out.rejected_logps.sum()).backward()
    model.zero_grad(set_to_none=True)
    ran = {e.key for e in prof.key_averages()}
    return [short for op, short in KERNELS.items() if op in ran]


def worker(spec: dict) -> dict:
    """One point: warm-up step, then one timed step at the requested length; peak memory above the warm state."""
    import torch

    from redi.config import TrainerConfig
    from redi.infra.distributed import DistEnv
    from redi.loop.optim import build_optimizer, clip_gradients
    from redi.loop.plan import Batching, BatchPlan
    from redi.loop.stats import StepStats
    from redi.loop.step import LoopInputs, Step
    from redi.objectives import get_objective

    torch.set_num_threads(spec["threads"])
    length, rejected = spec["length"], max(1, round(spec["length"] * spec["rejected_ratio"]))
    short = max(1, round(WARMUP_TOKENS * spec["rejected_ratio"]))
    rows = _pairs([(WARMUP_TOKENS, short), (length, rejected)], spec["prompt"])
    model = make_model(spec["model"], max_positions=spec["prompt"] + length + 8)
    if spec["checkpointing"]:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    model.train()
    kernels = _attention_kernels(model, rows, 0)
    cfg = TrainerConfig(micro_batch_size=1, warmup_ratio=0.0, device="cpu", progress_bar=False)
    plan = BatchPlan(rows.group_lengths, 1, 0, Batching("random"), 1.0, -1)
    inputs = LoopInputs(model, rows, plan, get_objective("redi"), {"alpha": 0.8}, None, PAD_ID, 1e-6, 0)
    step = Step(inputs, cfg, DistEnv())
    optimizer, _ = build_optimizer(model, cfg, 1e-6, 2)

    def train_step(index: int) -> StepStats:
        sums = step([index])
        clip_gradients(step.params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return StepStats.from_sums(sums.tolist())

    train_step(0)
    warm_kb = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts from the current RSS
    t0 = time.perf_counter()
    stats = train_step(1)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "tokens": stats.tokens,
        "slots": stats.slots,
        "warm_rss_mb": warm_kb / 1024,
        "step_peak_mb": (_status_kb("VmHWM") - warm_kb) / 1024,
        "attention_kernels": kernels,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="small")
    parser.add_argument("--lengths", default="1024,4096,8192,16384,19800")
    parser.add_argument("--checkpointing", default="off,on")
    parser.add_argument("--prompt", type=int, default=200)
    parser.add_argument("--rejected-ratio", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    print(
        f"model {args.model}, prompt {args.prompt}, rejected/chosen {args.rejected_ratio}, {args.threads} thread(s)"
    )
    print("| checkpointing | tokens per response | tokens in the step | s | s per 1k tokens | peak MB above warm | "
          "MB per 1k tokens | warm RSS MB | load | kernels |")  # fmt: skip
    for ckpt in args.checkpointing.split(","):
        for length in (int(x) for x in args.lengths.split(",")):
            spec = {"model": args.model, "length": length, "checkpointing": ckpt == "on", "prompt": args.prompt,
                    "rejected_ratio": args.rejected_ratio, "threads": args.threads}  # fmt: skip
            out = subprocess.run(
                [sys.executable, __file__, "--worker", json.dumps(spec)],
                capture_output=True,
                text=True,
                check=True,
                env={
                    **os.environ,
                    "OMP_NUM_THREADS": str(args.threads),
                    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
                },
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            k = r["tokens"] / 1000
            print(
                f"| {ckpt} | {length:,} | {r['tokens']:,.0f} (slots {r['slots']:,.0f}) | {r['seconds']:.1f} | "
                f"{r['seconds'] / k:.3f} | {r['step_peak_mb']:,.0f} | {r['step_peak_mb'] / k:.1f} | "
                f"{r['warm_rss_mb']:,.0f} | {r['load_average']:.1f} | {', '.join(r['attention_kernels'])} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
