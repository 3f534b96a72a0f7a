"""Peak memory of redi's chunked log-probs + backward against the plain full-logits path, at vocab 151,936.

    nice -n 19 python benchmarks/logprob_memory.py [--lengths 2048,4096,8192] [--plain-max 4096]

A Qwen2-shaped model with the real vocabulary (151,936, Qwen2.5's) and a small hidden size (64, one layer), one
sequence of each length with a response of the last three quarters. Each measurement is a fresh process; it
reports the growth of peak RSS over the process's RSS just before the forward (the model and inputs), i.e. what
the forward, the log-probs and the backward added. The plain path above ``--plain-max`` tokens is skipped: it
needs (T x V) fp32 logits, their log-softmax and their gradient (about 15 GB at 8,192 tokens) on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

VOCAB = 151_936


def worker(path: str, length: int) -> dict:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from redi.data.tokenize import Encoded, collate
    from redi.loop.logprobs import plain_sequence_logps, sequence_logps

    torch.set_num_threads(1)
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        max_position_embeddings=length,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    ids = torch.randint(0, VOCAB, (length,)).tolist()
    batch = collate([Encoded(ids, length // 4, False)], pad_id=0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn = plain_sequence_logps if path == "plain" else sequence_logps
    logps, _ = fn(model, batch)
    logps.sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"path": path, "length": length, "added_mb": (peak - base) / 1024, "logp": float(logps.sum())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="2048,4096,8192")
    parser.add_argument("--plain-max", type=int, default=4096)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return
    env_path = str(Path(__file__).resolve().parents[1])
    print(f"vocab {VOCAB}, hidden 64, 1 layer; peak RSS added by forward + log-probs + backward (MB)")
    print(f"{'tokens':>7} {'redi':>9} {'plain':>9} {'redi/plain':>11}")
    for length in map(int, args.lengths.split(",")):
        out = {}
        for path in ("redi", "plain"):
            if path == "plain" and length > args.plain_max:
                continue
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", path, str(length)],
                capture_output=True,
                text=True,
                env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                raise RuntimeError(proc.stderr[-2000:])
            out[path] = json.loads(line[0][7:])
        r = out["redi"]["added_mb"]
        p = out.get("plain", {}).get("added_mb")
        ratio = f"{r / p:.3f}" if p else "-"
        print(f"{length:>7} {r:>9.0f} {'-' if p is None else round(p):>9} {ratio:>11}", flush=True)


if __name__ == "__main__":
    main()
