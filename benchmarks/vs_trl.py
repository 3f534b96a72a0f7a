"""redi against Hugging Face TRL on the same rows, side by side: tokens/s, padding, peak RSS, MFU.

    pip install -e '.[bench]'
    nice -n 19 python benchmarks/vs_trl.py [--models tiny,small] [--objectives sft,dpo,simpo,redi] [--rows 96]
        [--repeats 3] [--threads 1] [--profile] [--forward auto|plain]

One invocation interleaves, for every repeat, model and objective: TRL (SFTTrainer; DPOTrainer with a precomputed
reference; CPOTrainer with loss_type simpo for SimPO, and for REDI, which TRL lacks and which does the same pair
work), redi on TRL's batches (rows in file order, TRL's sequential sampler) and redi on its own default batching
(length-grouped). Each measurement is a fresh subprocess (so peak RSS is its own), trains ``rows`` rows at 8 per
step with AdamW (lr 1e-6, clip 1.0, fp32) and times the steps after the first two. Non-padding tokens per step are
counted in the model's forward for both and checked equal on the same batches (and in total on redi's own).
MFU = 6 N x non-padding tokens/s over the fp32 matmul peak measured at the start. Prints medians of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import EOS_ID, PAD_ID, make_model, make_rows, make_tokenizer, num_parameters, rows_hash, text  # noqa: E402

BATCH = 8
LR = 1e-6
HYPER = {"sft": {}, "dpo": {"beta": 0.1}, "simpo": {"beta": 2.0, "gamma": 1.0}, "redi": {"alpha": 0.8}}
WARMUP_STEPS = 2


class TokenCounter:
    """Counts non-padding tokens and computed slots of every training forward (a forward pre-hook)."""

    def __init__(self, model) -> None:
        self.tokens = self.slots = 0
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs) -> None:
        import torch

        if not (module.training and torch.is_grad_enabled()):
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        self.slots += ids.numel()
        self.tokens += int(mask.sum()) if mask is not None else ids.numel()


def _result(step_times: list[float], step_tokens: list[int], step_slots: list[int], model, losses) -> dict:
    w = WARMUP_STEPS
    seconds = step_times[-1] - step_times[w - 1]
    tokens = sum(step_tokens[w:])
    return {
        "tokens_per_s": tokens / seconds,
        "seconds": seconds,
        "timed_tokens": tokens,
        "pad_frac": 1 - sum(step_tokens) / max(sum(step_slots), 1),
        "step_tokens": step_tokens,
        "total_tokens": sum(step_tokens),
        "losses": losses[:4],
        "params": num_parameters(model),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_redi(spec: dict) -> dict:
    from redi.config import TrainerConfig
    from redi.data.tokenize import Encoded, EncodedRows
    from redi.infra.distributed import DistEnv
    from redi.infra.session import Session
    from redi.infra.status import Status
    from redi.infra.tracking import Tracker
    from redi.inputs.reference import compute_reference_logps
    from redi.loop.plan import Batching, BatchPlan
    from redi.loop.train import EvalSchedule, LoopInputs, train
    from redi.objectives import get_objective

    rows = make_rows(spec["rows"], spec["seed"])
    chosen = [Encoded(r.prompt + r.chosen + [EOS_ID], len(r.prompt), False) for r in rows]
    pairs = spec["objective"] != "sft"
    rejected = (
        [Encoded(r.prompt + r.rejected + [EOS_ID], len(r.prompt), False) for r in rows] if pairs else None
    )
    lengths = [
        len(c.ids) + (len(r.ids) if pairs else 0) for c, r in zip(chosen, rejected or chosen, strict=True)
    ]
    encoded = EncodedRows(chosen, rejected, lengths, 0, 0)
    model = make_model(spec["model"], spec["seed"])
    objective = get_objective(spec["objective"])
    env = DistEnv()
    reference = (
        compute_reference_logps(model, encoded, PAD_ID, BATCH, env) if objective.needs_reference else None
    )
    counter = TokenCounter(model)
    times, toks, slots, losses = [], [], [], []

    class TimedTracker(Tracker):
        def log(self, metrics, step):
            times.append(time.perf_counter())
            toks.append(counter.tokens - sum(toks))
            slots.append(counter.slots - sum(slots))
            losses.append(metrics["train/loss"])
            super().log(metrics, step)

    cfg = TrainerConfig(
        micro_batch_size=BATCH,
        warmup_ratio=0.0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        save_every=10**9,
        progress_bar=False,
        device="cpu",
        forward=spec.get("forward", "auto"),
    )
    plan = BatchPlan(encoded.group_lengths, BATCH, spec["seed"], Batching(spec["batching"]), 1.0, -1)
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(Path(tmp), env, Status(Path(tmp)), TimedTracker(Path(tmp)))
        inputs = LoopInputs(
            model, encoded, plan, objective, HYPER[spec["objective"]], reference, PAD_ID, LR, spec["seed"]
        )
        with _maybe_profile(spec):
            train(inputs, cfg, session, EvalSchedule())
    return _result(times, toks, slots, model, losses)


def _trl_trainer(spec: dict, model, tok, out_dir: str):
    from datasets import Dataset

    rows = make_rows(spec["rows"], spec["seed"])
    common = dict(
        output_dir=out_dir,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        max_grad_norm=1.0,
        num_train_epochs=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        seed=spec["seed"],
        train_sampling_strategy="sequential",
        disable_tqdm=True,
        # TRL's configs default to bf16 autocast and activation checkpointing; redi's step is fp32 without
        # recomputation, so both are turned off for the same work (with them, TRL's losses differ from redi's).
        bf16=False,
        gradient_checkpointing=False,
    )
    prompts = [text(r.prompt) for r in rows]
    if spec["objective"] == "sft":
        from trl import SFTConfig, SFTTrainer

        data = Dataset.from_dict({"prompt": prompts, "completion": [" " + text(r.chosen) for r in rows]})
        args = SFTConfig(max_length=None, completion_only_loss=True, **common)
        return SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    data = Dataset.from_dict(
        {
            "prompt": prompts,
            "chosen": [" " + text(r.chosen) for r in rows],
            "rejected": [" " + text(r.rejected) for r in rows],
        }
    )
    if spec["objective"] == "dpo":
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(beta=0.1, precompute_ref_log_probs=True, max_length=None, **common)
        return DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    args = CPOConfig(
        loss_type="simpo",
        cpo_alpha=0.0,
        beta=2.0,
        simpo_gamma=1.0,
        max_length=4096,
        **common,
    )
    return CPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok)


def run_trl(spec: dict) -> dict:
    from transformers import TrainerCallback

    model = make_model(spec["model"], spec["seed"])
    tok = make_tokenizer()
    times, toks, slots = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trl_trainer(spec, model, tok, tmp)
        counter = TokenCounter(model)

        class Timer(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                times.append(time.perf_counter())
                toks.append(counter.tokens - sum(toks))
                slots.append(counter.slots - sum(slots))

        trainer.add_callback(Timer())
        with _maybe_profile(spec):
            trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return _result(times, toks, slots, model, losses)


class _maybe_profile:
    """torch.profiler around the training when spec["profile"]; prints the top ops by self CPU time."""

    def __init__(self, spec: dict) -> None:
        self.on = bool(spec.get("profile"))

    def __enter__(self):
        if self.on:
            from torch.profiler import ProfilerActivity, profile

            self.prof = profile(activities=[ProfilerActivity.CPU])
            self.prof.__enter__()
        return self

    def __exit__(self, *exc):
        if self.on:
            self.prof.__exit__(*exc)
            table = self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14)
            print(table, file=sys.stderr)
        return False


def worker(spec: dict) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    result = run_trl(spec) if spec["framework"] == "trl" else run_redi(spec)
    print("RESULT " + json.dumps({**spec, **result}))


def matmul_peak(threads: int, seconds: float = 3.0) -> float:
    """The fp32 matmul rate (FLOP/s) of this machine now: best of square matmuls of a few sizes."""
    import torch

    torch.set_num_threads(threads)
    best = 0.0
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            a @ b
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0))
    return best


def measure(spec: dict) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(spec["threads"]),
    }
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True, env=env
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"worker {spec} failed:\n{out.stderr[-3000:]}")
    if spec.get("profile"):
        print(out.stderr[-6000:])
    return json.loads(lines[-1][len("RESULT ") :])


def _versions() -> str:
    import importlib.metadata as md

    names = ["torch", "transformers", "trl", "datasets", "accelerate"]
    return ", ".join(f"{n} {md.version(n)}" for n in names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", default="tiny")
    parser.add_argument("--objectives", default="sft,dpo,simpo,redi")
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="one profiled run per framework instead")
    parser.add_argument(
        "--forward", default="auto", help="redi's trainer.forward (plain: the unoptimised full-logits step)"
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    rows = make_rows(args.rows, args.seed)
    peak = matmul_peak(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()}"
    )
    print(f"versions: python {platform.python_version()}, {_versions()}")
    print(f"workload: {args.rows} rows, hash {rows_hash(rows)}; matmul peak {peak / 1e9:.1f} GFLOP/s")
    runs = [("trl", "sequential"), ("redi", "sequential"), ("redi", "grouped")]
    results: list[dict] = []
    for rep in range(1 if args.profile else args.repeats):
        for model in args.models.split(","):
            for objective in args.objectives.split(","):
                for framework, batching in runs:
                    trl_objective = "simpo" if objective == "redi" else objective
                    spec = {
                        "framework": framework,
                        "objective": trl_objective if framework == "trl" else objective,
                        "model": model,
                        "batching": batching,
                        "rows": args.rows,
                        "seed": args.seed,
                        "threads": args.threads,
                        "profile": args.profile,
                        "forward": args.forward,
                        "repeat": rep,
                        "row": objective,
                    }
                    r = measure(spec)
                    results.append(r)
                    print(
                        f"  rep {rep} {model} {objective:<5} {framework:<4} {batching:<10} "
                        f"{r['tokens_per_s']:8.0f} tok/s  pad {r['pad_frac']:.3f}  rss {r['peak_rss_mb']:.0f} MB  "
                        f"loss {[round(x, 5) for x in r['losses'][:2]]}  load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    check_tokens(results)
    print(f"load at the end {os.getloadavg()}; {args.threads} thread(s) per side, nice {os.nice(0)}")
    print(table(results, peak))


def check_tokens(results: list[dict]) -> None:
    """Same batches -> the same non-padding tokens every step; own batching -> the same total."""
    for r in results:
        trl = next(
            x
            for x in results
            if x["framework"] == "trl"
            and x["row"] == r["row"]
            and x["model"] == r["model"]
            and x["repeat"] == r["repeat"]
        )
        if r["batching"] == "sequential" and r["step_tokens"] != trl["step_tokens"]:
            raise AssertionError(f"per-step tokens differ on TRL's batches: {r['row']} {r['model']}")
        if r["total_tokens"] != trl["total_tokens"]:
            raise AssertionError(f"total tokens differ: {r['row']} {r['model']} {r['batching']}")
    print("token check: per-step non-padding tokens equal on TRL's batches; totals equal on redi's own")


def table(results: list[dict], peak: float) -> str:
    def med(framework: str, batching: str, row: str, model: str, key: str) -> float:
        xs = [
            r[key]
            for r in results
            if r["framework"] == framework
            and r["batching"] == batching
            and r["row"] == row
            and r["model"] == model
        ]
        return statistics.median(xs)

    lines = [
        "| model | objective | TRL tok/s | redi, TRL's batches | redi, own batching | pad TRL / redi own | peak RSS redi/TRL | MFU TRL / redi own |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in dict.fromkeys(r["model"] for r in results):
        for row in dict.fromkeys(r["row"] for r in results):
            t = med("trl", "sequential", row, model, "tokens_per_s")
            s = med("redi", "sequential", row, model, "tokens_per_s")
            o = med("redi", "grouped", row, model, "tokens_per_s")
            n = next(r["params"] for r in results if r["model"] == model)
            rss = med("redi", "grouped", row, model, "peak_rss_mb") / med(
                "trl", "sequential", row, model, "peak_rss_mb"
            )
            lines.append(
                f"| {model} ({n / 1e6:.1f} M) | {row} | {t:,.0f} | {s:,.0f} ({s / t:.2f}x) | {o:,.0f} ({o / t:.2f}x) | "
                f"{med('trl', 'sequential', row, model, 'pad_frac'):.1%} / {med('redi', 'grouped', row, model, 'pad_frac'):.1%} | "
                f"{rss:.2f}x | {6 * n * t / peak:.0%} / {6 * n * o / peak:.0%} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
