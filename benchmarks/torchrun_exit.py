"""How often do gloo workers abort at exit on CPU, with and without redi's clean exit? (issue 7, item 4)

    python benchmarks/torchrun_exit.py --runs 20               # a small DDP worker, both exit styles
    python benchmarks/torchrun_exit.py --runs 10 --entry redi  # the real entry point (smoke SFT, 2 steps)

Each run is ``torchrun --standalone --nproc_per_node=2``; a run fails when torchrun exits non-zero or a worker
printed "terminate called". ``plain`` ends the worker normally after destroy_process_group() (for ``redi``: Hydra's
main returns and the interpreter exits, as before issue 7); ``clean`` ends it through
redi.infra.distributed.exit_process (flush, destroy, os._exit), as ``python -m redi.run`` does. One JSON line per style.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def redi_worker(style: str, overrides: list[str]) -> None:
    """``python -m redi.run``, ending the interpreter normally (plain) or through exit_process (clean)."""
    import runpy

    from redi.infra import distributed

    if style == "plain":
        distributed.exit_process = sys.exit  # what redi.run's __main__ did before issue 7
    sys.argv = ["redi.run", *overrides]
    runpy.run_module("redi.run", run_name="__main__", alter_sys=True)


def worker(style: str) -> None:
    """A few DDP steps of a small model over gloo, then the chosen exit."""
    import torch
    import torch.distributed as dist

    from redi.infra import distributed

    env = distributed.setup("cpu")
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh())
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        model(torch.randn(8, 64)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    distributed.barrier(env)
    if style == "clean":
        distributed.exit_process(0)
    dist.destroy_process_group()
    sys.exit(0)


def launch(command: list[str], cwd: Path) -> tuple[int, bool]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc.returncode, "terminate called" in proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--entry", choices=("worker", "redi"), default="worker")
    parser.add_argument("--styles", default="plain,clean")
    parser.add_argument("--worker", choices=("plain", "clean"), help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.worker and args.entry == "redi":
        redi_worker(args.worker, rest)
        return
    if args.worker:
        worker(args.worker)
        return
    with tempfile.TemporaryDirectory(prefix="torchrun-exit-") as tmp:
        cwd = Path(tmp)
        for style in args.styles.split(","):
            failures = aborts = 0
            for i in range(args.runs):
                command = [str(Path(__file__).resolve()), "--worker", style, "--entry", args.entry]
                if args.entry == "redi":
                    command += [
                        "experiment=smoke",
                        "objective=sft",
                        "logger=off",
                        "trainer.max_steps=2",
                        "trainer.micro_batch_size=4",
                        "eval.every_n_steps=0",
                        "eval.at_end=false",
                        "trainer.progress_bar=false",
                        f"hydra.run.dir={cwd / f'{style}{i}'}",
                    ]
                rc, aborted = launch(command, cwd)
                failures += rc != 0
                aborts += aborted
            print(
                json.dumps(
                    {
                        "entry": args.entry,
                        "style": style,
                        "runs": args.runs,
                        "nonzero_exit": failures,
                        "terminate_called": aborts,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
