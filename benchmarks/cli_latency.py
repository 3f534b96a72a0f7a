"""How long do the commands that end before any compute take? This checkout against an older revision, side by side.

    python benchmarks/cli_latency.py [--base acb7fbf] [--repeats 5]

Times, in fresh processes with the same interpreter: one TAB of bash completion (``redi -sc query=bash`` with
COMP_LINE set, what bash runs per TAB), ``redi run --help`` and a rejected config (``redi run alpha=8``, exit 2).
The older revision is checked out into a temporary git worktree (removed afterwards) and run with its own code on
PYTHONPATH. Prints the median and range of wall seconds per command and the base / this ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "TAB (redi run objective=<TAB>)": (
        ["-m", "redi.cli", "-sc", "query=bash"],
        {"COMP_LINE": "redi run objective="},
    ),
    "redi run --help": (["-m", "redi.cli", "run", "--help"], {}),
    "rejected config (redi run alpha=8)": (["-m", "redi.cli", "run", "alpha=8"], {}),
}


def seconds(code: Path, argv: list[str], env_extra: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one run of ``python argv`` importing redi from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), **env_extra}
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, check=False, timeout=300)
    return time.perf_counter() - start


def measure(code: Path, repeats: int, cwd: Path) -> dict[str, list[float]]:
    """Each command ``repeats`` times (after one warm-up run that fills the file cache)."""
    times: dict[str, list[float]] = {}
    for name, (argv, env_extra) in COMMANDS.items():
        seconds(code, argv, env_extra, cwd)
        times[name] = [seconds(code, argv, env_extra, cwd) for _ in range(repeats)]
    return times


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default="acb7fbf", help="the revision to compare with (default: before issue 24)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)  # fmt: skip
        try:
            cwd = Path(tmp) / "cwd"
            cwd.mkdir()
            before = measure(base, args.repeats, cwd)
            after = measure(REPO, args.repeats, cwd)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)
    print(f"{'command':<38} {args.base + ' (base)':<24} {'this checkout':<24} base / this")
    for name in COMMANDS:
        ratio = statistics.median(before[name]) / statistics.median(after[name])
        print(f"{name:<38} {describe(before[name]):<24} {describe(after[name]):<24} {ratio:.1f}x")


if __name__ == "__main__":
    main()
