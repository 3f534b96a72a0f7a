"""Per-fault evidence for docs/reliability.md (issue 12): every fault of the issue, injected into the real smoke run.

    nice -n 8 python benchmarks/fault_trials.py --trials 12 --out fault_trials.md
    python benchmarks/fault_trials.py --faults sigterm,sigkill --trials 4 --jobs 2

Each trial runs ``python -m redi.run experiment=smoke ...`` processes (tests/faults/test_kills.py's launch and
settings), injects its fault (benchmarks/fault_cases.py), restarts when a rerun should recover, and compares with
one uninterrupted run made first: metrics.jsonl's rows (timing columns dropped, hashed as sorted-key JSON) and
model/model.safetensors' sha256. One row per fault: trials, outcome (every launch's exit code -> final status),
rows against the uninterrupted run's, the hashes equal or not, the line the user saw, the time to fail or to
finish (the last launch's wall time, median and max). The stage-1 model is built once and shared through
REDI_CACHE_DIR. Which moments, steps, delays and catalogue samples are tried follows from --seed alone; the
machine's load moves only where inside the chosen phase a kill lands (each trial's detail says where).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import fault_cases as fc  # noqa: E402
from fault_catalogue import catalogue_sample, reject_time  # noqa: E402

from tests.faults.test_kills import rows, weights  # noqa: E402
from tests.infra.test_checkpoint import DAMAGE  # noqa: E402

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_SILENT": "true",
           "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline"}  # fmt: skip


EARLY = [
    (signal.SIGTERM, "stage 1's data build"),
    (signal.SIGTERM, "stage 1's training"),
    (signal.SIGTERM, "the step-0 evaluation"),
    (signal.SIGINT, "the step-0 evaluation"),
]


def faults(args: argparse.Namespace) -> list[tuple[str, str, object, int]]:
    """(id, label, fault, trials) for every fault, in the issue's order."""
    n, s = args.trials, args.signal_trials
    listed = [
        (
            "no-checkpoint",
            "restart with no checkpoint yet (SIGKILL after the step-0 eval)",
            fc.no_checkpoint_yet,
            1,
        ),
        ("deleted-latest", "checkpoints/latest deleted", fc.deleted_latest, 1),
        ("pickle", "malicious pickle trainer_state.pt", fc.malicious_pickle, 1),
        ("malformed-metrics", "malformed metrics.jsonl line in the middle", fc.malformed_metrics_line, 1),
        ("two-launches", "two launches at once", fc.two_launches, 1),
    ]
    for sig in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
        name = sig.name.lower()
        listed.append((name, f"{sig.name} after a random step", fc.termination_signal(sig), s))
    for sig, where in EARLY:
        fault = fc.early_signal(sig, where)
        listed.append((f"early-{sig.name.lower()}-{where.split()[-1]}", f"{sig.name} in {where}", fault, 1))
    kill = "SIGKILL at random moments (step, eval, checkpoint write, final model write)"
    listed.append(("sigkill", kill, fc.sigkill_random, n))
    for kind in sorted(DAMAGE):
        listed.append(
            (
                f"corrupt-{kind.replace(' ', '-')}",
                f"corrupt checkpoint: {kind}",
                fc.corrupt_checkpoint(kind),
                1,
            )
        )
    listed += [
        ("invalid-status", "invalid status.json", fc.invalid_status, 1),
        ("zero-rows", "data build keeping zero rows (every source dropped), run twice", fc.zero_row_build, 1),
        ("wandb-no-key", "W&B online without a key", fc.wandb_fault("no-key"), 1),
        ("wandb-unreachable", "W&B server unreachable (127.0.0.1:9)", fc.wandb_fault("unreachable"), 1),
        ("wandb-killed", "W&B service killed mid-run", fc.wandb_fault("killed"), 1),
        ("full-disk", "full disk (run directory on a 700 KB tmpfs, then grown)", fc.full_disk, 1),
        ("reject-time", "bad config rejected: `lr=nan trainer.threads=0`", reject_time, args.reject_trials),
    ]
    listed += [(i, label, f, 1) for i, label, f in catalogue_sample(args.seed, args.samples)]
    if args.faults:
        wanted = args.faults.split(",")
        listed = [f for f in listed if any(f[0].startswith(w) for w in wanted)]
    return listed


def run_trial(bench: fc.Bench, seed: int, label: str, fault, i: int) -> fc.Trial:
    rng = random.Random(f"{seed}:{label}:{i}")  # the trial's plan depends on nothing else
    try:
        trial = fault(bench, rng, i)
    except Exception as e:  # noqa: BLE001  (a harness bug in one trial must not hide the others' evidence)
        trial = fc.Trial([], "error", None, None, None, f"trial error: {type(e).__name__}: {e}"[:200], 0.0)
    print(f"[{time.strftime('%H:%M:%S')}] {label} #{i}: {trial.codes} {trial.state} {trial.detail}",
          file=sys.stderr, flush=True)  # fmt: skip
    return trial


def _share(values: list[bool | None]) -> str:
    known = [v for v in values if v is not None]
    return f"equal {sum(known)}/{len(known)}" if known else "-"


def summarise(label: str, trials: list[fc.Trial], reference_rows: int) -> list[str]:
    """One table row: fault, trials, outcome, rows, metrics hash, weights hash, message, seconds."""
    outcomes = Counter(f"exit {' -> '.join(map(str, t.codes))}, {t.state}" for t in trials)
    outcome = "; ".join(f"{c}x {o}" if len(outcomes) > 1 or c > 1 else o for o, c in outcomes.most_common())
    counts = sorted({t.rows for t in trials if t.rows is not None})
    shown = "-" if not counts else "/".join(map(str, counts)) + f" of {reference_rows}"
    secs = [t.seconds for t in trials]
    time_s = f"{statistics.median(secs):.1f}" + (f" (max {max(secs):.1f})" if len(secs) > 1 else "")
    common = outcomes.most_common(1)[0][0]  # the message of the first trial that ended the most common way
    message = next(t.message for t in trials if f"exit {' -> '.join(map(str, t.codes))}, {t.state}" == common)
    message = message.replace("|", "\\|")
    return [label, str(len(trials)), outcome, shown, _share([t.metrics_equal for t in trials]),
            _share([t.weights_equal for t in trials]), message, time_s]  # fmt: skip


HEADER = ["fault", "trials", "outcome (exit codes -> status)", "rows", "metrics sha256", "weights sha256",
          "what the user saw", "time (s)"]  # fmt: skip


def markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in table])


def versions() -> str:
    import datasets
    import torch
    import transformers
    import wandb

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return (f"redi {commit.stdout.strip()}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, datasets {datasets.__version__}, wandb {wandb.__version__}, "
            f"{os.cpu_count()} CPUs")  # fmt: skip


def reference_run(bench: fc.Bench) -> tuple[int, str, str, float]:
    """The uninterrupted run: (rows, metrics sha256, weights sha256, seconds); kept from an earlier call in --work."""
    code, out, seconds = bench.timed(bench.reference)  # a completed one says "already finished" in seconds
    if code != 0:
        raise SystemExit(f"the uninterrupted run failed (exit {code}):\n{out[-3000:]}")
    seconds = -1.0 if "already finished" in out else seconds
    digest = hashlib.sha256(json.dumps(rows(bench.reference), sort_keys=True).encode()).hexdigest()
    return len(rows(bench.reference)), digest, weights(bench.reference), seconds


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12, help="SIGKILL trials (phases in turn)")
    ap.add_argument("--signal-trials", type=int, default=2, help="trials of each of SIGTERM, SIGUSR2, SIGINT")
    ap.add_argument(
        "--samples", type=int, default=6, help="bad configs and bad data files from the catalogue"
    )
    ap.add_argument("--reject-trials", type=int, default=5, help="repeats of the bad-config rejection time")
    ap.add_argument("--faults", default="", help="comma-separated fault ids (prefixes), e.g. sigkill,corrupt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="trials run at once")
    ap.add_argument("--work", type=Path, default=None, help="where run directories go (default: a temp dir)")
    ap.add_argument(
        "--out", type=Path, default=None, help="also write the table (and each trial) as markdown"
    )
    ap.add_argument(
        "overrides", nargs="*", help="overrides added to every launch (after tests/faults' SMOKE)"
    )
    return ap.parse_args()


def run_all(bench: fc.Bench, listed: list, seed: int, jobs: int) -> dict[str, list[fc.Trial]]:
    """Every trial of every fault, ``jobs`` at once: {fault label: its trials in order}."""
    tasks = [(f, i) for f in listed for i in range(f[3])]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda t: run_trial(bench, seed, t[0][1], t[0][2], t[1]), tasks))
    by_fault: dict[str, list[fc.Trial]] = {}
    for (f, _), trial in zip(tasks, done, strict=True):
        by_fault.setdefault(f[1], []).append(trial)
    return by_fault


def main() -> None:
    args = parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fault_trials."))
    work.mkdir(parents=True, exist_ok=True)
    for k, v in OFFLINE.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("REDI_CACHE_DIR", str(work / "cache"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    bench = fc.Bench(work, work / "uninterrupted" / "run", tuple(args.overrides))
    bench.reference = bench.run_dir("uninterrupted")
    started, load0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()
    ref_rows, ref_metrics, ref_weights, ref_s = reference_run(bench)
    print(f"uninterrupted run: {ref_rows} rows, {ref_s:.1f}s", file=sys.stderr, flush=True)
    by_fault = run_all(bench, faults(args), args.seed, args.jobs)
    table = [summarise(label, trials, ref_rows) for label, trials in by_fault.items()]
    load = os.getloadavg()
    head = (f"{started} to {time.strftime('%H:%M UTC', time.gmtime())}; load average at the start "
            f"{load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f}, at the end {load[0]:.1f}; {versions()}\n"
            f"command: `{' '.join(['python', *sys.argv])}`\nuninterrupted run: {ref_rows} rows, metrics sha256 "
            f"{ref_metrics[:16]}, weights sha256 {ref_weights[:16]}, "
            + (f"{ref_s:.0f} s\n" if ref_s >= 0 else "kept from an earlier call in --work\n"))  # fmt: skip
    print(head + "\n" + markdown(table))
    if args.out:
        details = [f"- {label} #{i}: exit {' -> '.join(map(str, t.codes))}, {t.state}; {t.detail}"
                   for label, trials in by_fault.items() for i, t in enumerate(trials)]  # fmt: skip
        args.out.write_text(head + "\n" + markdown(table) + "\n\nEach trial:\n\n" + "\n".join(details) + "\n")


if __name__ == "__main__":
    main()
