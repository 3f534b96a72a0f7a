"""``redi sync PATH...``: upload every offline W&B run under PATH, with the stage-1 runs they started from.

A run directory keeps its W&B run in ``wandb/offline-run-*``; the stage-1 model a preference run started from is
trained once in the cache (status.json ``stage1_dir``), so its W&B run lives there and is followed from the runs
that used it. ``--dry-run`` lists what would be synced.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def _offline_runs(run_dir: Path) -> list[Path]:
    return sorted(p for p in (run_dir / "wandb").glob("offline-run-*") if p.is_dir())


def find_runs(paths: list[Path]) -> list[Path]:
    """The offline W&B run directories under ``paths`` and of the stage-1 runs those runs started from."""
    found: dict[Path, None] = {}
    stage1: dict[Path, None] = {}
    for path in paths:
        for wandb_dir in sorted(Path(path).rglob("wandb")):
            if not wandb_dir.is_dir():
                continue
            run_dir = wandb_dir.parent
            found.update(dict.fromkeys(_offline_runs(run_dir)))
            status = run_dir / "status.json"
            if status.exists():
                try:
                    origin = json.loads(status.read_text()).get("stage1_dir")
                except json.JSONDecodeError:
                    origin = None
                if origin:
                    stage1[Path(origin)] = None
    for run_dir in stage1:
        found.update(dict.fromkeys(_offline_runs(run_dir)))
    return list(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redi sync", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run directories, sweep directories or runs/")
    parser.add_argument("--dry-run", action="store_true", help="list the W&B runs, upload nothing")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"redi: error: no such directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    runs = find_runs(args.paths)
    for run in runs:
        print(run)
    print(f"redi sync: {len(runs)} offline W&B run(s)", file=sys.stderr)
    if args.dry_run or not runs:
        return 0
    return subprocess.call([sys.executable, "-m", "wandb", "sync", *map(str, runs)])
