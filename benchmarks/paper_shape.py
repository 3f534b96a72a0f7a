"""Qwen2.5-Math-1.5B's exact shape, cut to a few layers, through ``experiment=paper_stage2`` on this CPU: the code
path end to end and its peak memory against docs/scaling.md's arithmetic.

    flock /work/bigmem.lock nice -n 8 python benchmarks/paper_shape.py [--layers 2,4] [--responses 128,1024]
    flock /work/bigmem.lock nice -n 8 python benchmarks/paper_shape.py --backward   # then: the backward alone
    python benchmarks/paper_shape.py --dry        # a tiny shape, seconds (what the tests run)

Built locally, no hub: a randomly initialised Qwen2ForCausalLM with Qwen2.5-Math-1.5B's config.json (vocabulary
151,936, hidden 1536, MLP 8960, 12 attention and 2 key-value heads, QKV bias, tied embeddings, RMSNorm eps 1e-6,
RoPE theta 10,000 and 4,096 positions as shipped, which ``model=qwen2.5-math-1.5b`` raises to 300,000 and 32,768),
only ``num_hidden_layers`` cut, saved in bf16 as on the hub; a word-level tokenizer of exactly 151,936 ids (ChatML
specials, word ``w<i>`` = id i); and an Open-R1-Math-Raw-schema jsonl (the verdicts in the ``correctness`` struct)
whose every problem has one correct and one incorrect trace of the requested response length.

Each (layers, response length) point is one ``python -m redi.run experiment=paper_stage2 objective=redi alpha=0.8``
with only what a CPU needs overridden (CPU_OVERRIDES: the device, the local model and data instead of the hub ids
and the stage-1 model, no generation, 2 optimizer steps of one pair) and everything else as the paper's config:
fp32 master weights and AdamW moments, bf16 autocast, gradient checkpointing, SDPA, the chunked head. The
process's peak RSS is compared with the prediction

    baseline (the same run with a 0.1 M-parameter model, measured) + 18 B x parameters (16: fp32 weights,
    gradients, AdamW moments; 2: autocast's bf16 copies of the weights) + tokens x (layers x checkpointed layer
    input + one recomputed layer + the head), the per-token bytes measured by benchmarks/activation_memory.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Qwen2.5-Math-1.5B's config.json (28 layers); --dry shrinks the widths, never the structure
SHAPE = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_attention_heads=12,
             num_key_value_heads=2, tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=10000.0,
             max_position_embeddings=4096, bos_token_id=151643, eos_token_id=151643, initializer_range=0.02)  # fmt: skip
DRY = dict(
    SHAPE,
    vocab_size=1000,
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PROMPT_WORDS = 48
# what a CPU needs beyond experiment=paper_stage2 (everything else is the paper's config)
CPU_OVERRIDES = [
    "trainer.device=cpu",  # trainer=gpu8 says cuda
    "trainer.max_steps=2",
    "trainer.grad_accum_steps=1",  # one pair per step on one process (the paper: 1 pair x 4 x 8 GPUs)
    "eval.every_n_steps=0",  # no generation: a CPU cannot sample 32,768-token answers
    "eval.at_start=false",
    "eval.at_end=false",
    "eval.engine=hf",  # vLLM needs a GPU
    "~eval.benchmarks.math500",  # a hub dataset: nothing to decontaminate against or evaluate
    "data.source=local",  # instead of the hub's open-r1/OpenR1-Math-Raw
    "data.builder.decontaminate=false",  # against the benchmarks just removed
    "logger=off",
    "trainer.progress_bar=false",
    "control=false",  # no alpha = 0 control beside it: one run, one peak
]


def tokenizer(vocab: int):
    """Word-level tokenizer of exactly ``vocab`` ids: ChatML specials at 0-2, word ``w<i>`` -> id i."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    table = {t: i for i, t in enumerate(SPECIALS)} | {f"w{i}": i for i in range(len(SPECIALS), vocab)}
    tok = Tokenizer(models.WordLevel(table, unk_token=SPECIALS[0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=SPECIALS[2], pad_token=SPECIALS[0], unk_token=SPECIALS[0]
    )


def build_model(directory: Path, layers: int, dry: bool) -> int:
    """Save the random model (bf16, as on the hub) to ``directory``; returns its parameters."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if (directory / "config.json").exists():
        return json.loads((directory / "parameters.json").read_text())["parameters"]
    shape = DRY if dry else SHAPE
    config = Qwen2Config(**shape, num_hidden_layers=layers, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("meta"):
        model = Qwen2ForCausalLM(config)
    model = model.to_empty(device="cpu")
    model.init_weights()  # normal(0, 0.02) for the matrices, as transformers initialises Qwen2
    n = sum(p.numel() for p in model.parameters())  # tied embeddings counted once
    model.to(torch.bfloat16).save_pretrained(directory)
    (directory / "parameters.json").write_text(json.dumps({"parameters": n}))
    return n


def write_data(path: Path, response_words: int, rows: int, vocab: int) -> None:
    """Open-R1-Math-Raw-schema rows: one correct and one incorrect trace of ``response_words`` words each."""
    import random

    rng = random.Random(0)

    def words(n: int) -> str:
        return " ".join(f"w{rng.randrange(3, vocab)}" for _ in range(n))

    with open(path, "w") as f:
        for i in range(rows):
            traces = [words(response_words - 2) + " \\boxed{1}", words(response_words - 2) + " \\boxed{2}"]
            f.write(json.dumps({
                "uuid": f"p{i}", "problem": words(PROMPT_WORDS), "answer": "1", "source": "olympiads",
                "problem_is_valid": "yes", "generations": traces,
                "correctness": {"llama_verification": [True, False], "math_verify_reparsed_answer": [True, False]},
                "is_reasoning_complete": [True, True], "finish_reasons": ["stop", "stop"],
            }) + "\n")  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}


def paper_overrides(work: Path, model: Path, data: Path, response: int) -> list[str]:
    """experiment=paper_stage2 with REDI (alpha 0.8), the CPU overrides and the local model, tokenizer and data."""
    return [
        "experiment=paper_stage2", "objective=redi", "alpha=0.8", *CPU_OVERRIDES,
        f"model.base={model}", f"model.init_from={model}",  # instead of the hub id and the stage-1 model
        f"model.tokenizer={work / 'tokenizer'}",  # beside the model, AutoTokenizer would rebuild it as Qwen2's BPE
        f"data.path={data}", f"data.max_length={PROMPT_WORDS + response + 64}",
        f"paths.cache_dir={work / 'cache'}",
    ]  # fmt: skip


def run_point(work: Path, layers: int, response: int, dry: bool) -> dict:
    """One ``experiment=paper_stage2`` run; its peak RSS, wall time and the tokens it trained."""
    work.mkdir(parents=True, exist_ok=True)
    model, vocab = work / f"model_{layers}l", (DRY if dry else SHAPE)["vocab_size"]
    # built in a spawned process: this one stays small, so the peak that redi.run's exec carries over from it is
    # small too (Linux keeps the larger of the old and the new memory's high-water marks across exec)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        params = pool.apply(build_model, (model, layers, dry))
    if not (work / "tokenizer" / "tokenizer.json").exists():
        tokenizer(vocab).save_pretrained(work / "tokenizer")
    data = work / f"pairs_{response}.jsonl"
    write_data(data, response, rows=4, vocab=vocab)
    run_dir = work / f"run_{layers}l_{response}"
    # a fresh run directory: in a finished one redi.run would return at once, in an interrupted one resume
    shutil.rmtree(run_dir, ignore_errors=True)
    overrides = [*paper_overrides(work, model, data, response), f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "redi.run", *overrides], stdout=out, stderr=out, env=_env()
        )
        _, wait_status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not any other child's
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            out.seek(0)
            raise SystemExit(f"redi.run exited {proc.returncode}:\n{out.read()[-6000:]}")
    peak = usage.ru_maxrss
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    status = json.loads((run_dir / "status.json").read_text())
    return {
        "layers": layers,
        "response": response,
        "parameters": params,
        "peak_rss_mb": peak / 1024,
        "seconds": seconds,
        "state": status["state"],
        "steps": status["step"],
        "tokens_per_step": [r["train/tokens"] for r in rows if "train/tokens" in r],
        "loss": [r["train/loss"] for r in rows if "train/loss" in r],
        "numerics": next(
            line for line in (run_dir / "run.log").read_text().splitlines() if "numerics:" in line
        ),
    }


def _status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS: resident now; VmHWM: its high-water mark)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1])


def backward_point(work: Path, layers: int, response: int) -> dict:
    """Forward and backward of one pair in this process, on the model and numerics the paper config loads.

    After one whole step on a short pair (so the fp32 weights and AdamW's moments exist), the resident set's
    high-water mark is reset (/proc/self/clear_refs) and one forward and backward of a pair of ``response``-token
    responses runs: what it adds is the gradients, autocast's bf16 weight copies and the activations.
    """
    import torch
    from hydra import compose, initialize_config_dir

    import redi.run  # noqa: F401  (registers the config schemas)
    from redi.data.tokenize import Encoded, EncodedRows
    from redi.infra.distributed import DistEnv
    from redi.loop.optim import build_optimizer, clip_gradients
    from redi.loop.plan import Batching, BatchPlan
    from redi.loop.stats import StepStats
    from redi.loop.step import LoopInputs, Step
    from redi.model.load import load_model
    from redi.model.source import ModelSource
    from redi.objectives import get_objective

    model_dir = work / f"model_{layers}l"
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=paper_overrides(work, model_dir, work / "unused.jsonl", response))
    model = load_model(ModelSource("dir", str(model_dir)), cfg.model, torch.device("cpu")).train()
    g = torch.Generator().manual_seed(0)

    def seq(n: int) -> Encoded:
        return Encoded(
            torch.randint(3, SHAPE["vocab_size"], (PROMPT_WORDS + n,), generator=g).tolist(),
            PROMPT_WORDS,
            False,
        )

    chosen, rejected = [seq(32), seq(response)], [seq(32), seq(response)]
    rows = EncodedRows(chosen, rejected, [len(c.ids) for c in chosen], 0, 0)
    plan = BatchPlan(rows.group_lengths, 1, 0, Batching("random"), 1.0, -1)
    inputs = LoopInputs(model, rows, plan, get_objective("redi"), {"alpha": 0.8}, None, 0, cfg.lr, 0)
    step = Step(inputs, cfg.trainer, DistEnv())
    optimizer, _ = build_optimizer(model, cfg.trainer, cfg.lr, 2)
    step([0])
    clip_gradients(step.params, cfg.trainer.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    warm = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts from the current RSS
    t0 = time.perf_counter()
    stats = StepStats.from_sums(step([1]).tolist())
    return {
        "layers": layers,
        "response": response,
        "tokens": stats.tokens,
        "warm_rss_mb": warm / 1024,
        "backward_peak_mb": (_status_kb("VmHWM") - warm) / 1024,
        "seconds": time.perf_counter() - t0,
    }


def _spawn_point(work: Path, layers: int, response: int, flags: list[str]) -> dict:
    """One point in its own process (so VmHWM is its own); its JSON line and the load."""
    cmd = [sys.executable, __file__, "--work", str(work), "--point", f"{layers},{response}", *flags]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if out.returncode != 0:
        raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load_average": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", default="2,4")
    parser.add_argument("--responses", default="128,1024")
    parser.add_argument("--work", type=Path, default=Path("/tmp/redi_paper_shape"))
    parser.add_argument("--dry", action="store_true", help="tiny widths, short responses: checks the script")
    parser.add_argument("--backward", action="store_true", help="the forward and backward alone, in process")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        layers, response = map(int, args.point.split(","))
        if args.backward:
            print(json.dumps(backward_point(args.work, layers, response)))
        else:
            print(json.dumps(run_point(args.work, layers, response, args.dry)))
        return
    grid = [(int(n), int(r)) for n in args.layers.split(",") for r in args.responses.split(",")]
    if args.backward:  # on the models and tokenizer an earlier run of the whole points saved
        for layers, response in grid:
            print(json.dumps(_spawn_point(args.work, layers, response, ["--backward"])), flush=True)
        return
    # the baseline: the same run with the dry shape's 0.1 M parameters (the interpreter, torch, transformers,
    # datasets, the grader's imports, the data build), in its own work directory
    points = [(args.work / "baseline", 1, 32, True)] + [(args.work, n, r, args.dry) for n, r in grid]
    for work, layers, response, dry in points:
        point = _spawn_point(work, layers, response, ["--dry"] if dry else [])
        print(json.dumps({**point, "dry": dry}), flush=True)


if __name__ == "__main__":
    main()
