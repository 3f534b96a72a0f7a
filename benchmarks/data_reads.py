"""How many times one run reads its local data file: every reader of the file counted, on any version of redi.

    python benchmarks/data_reads.py [--repo DIR] [--rows 400]

Writes the synthetic teacher's rows (Open-R1 format) to a jsonl file, then runs a preference run on it whose stage
1 is not cached (``experiment=smoke data.source=local data.path=FILE objective=redi``, a fresh cache directory) in a
child process that wraps every function that reads the file: full parses (Arrow or ``datasets.load_dataset``,
Python scans), first-row peeks and sha256 passes. ``--repo`` runs another checkout (e.g. the main branch before a
change) with the same file, so the counts can be compared side by side. The readers are found by name; a name a
version does not have is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (module, function, kind): every function any version of redi reads a local data file with
READERS = [
    ("datasets", "load_dataset", "parse"),  # before: openr1._load_local, formats.load_rows
    (
        "redi.data.checks",
        "scan_local_file",
        "parse",
    ),  # before: the safety scan, a Python pass over every line
    ("redi.data.openr1", "_read_json_rows", "parse"),
    ("redi.data.formats", "_peek_local", "first row"),
    ("redi.data.sources.files", "read_file", "parse"),  # after: the one Arrow pass
    ("redi.data.sources", "read_file", "parse"),
    ("redi.data.sources.files", "first_row", "first row"),
    ("redi.data.sources", "first_row", "first row"),
    ("redi.infra.cache", "_sha256_of", "sha256"),
]

CHILD = r"""
import atexit, functools, importlib, json, os, sys
path = os.environ["REDI_READS_FILE"]
counts = {}

def wrap(module, name, kind):
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return
    real = getattr(mod, name, None)
    if real is None or getattr(real, "_counted", False):
        return
    @functools.wraps(real)
    def counted(*args, **kwargs):
        shown = [a for a in list(args) + list(kwargs.values()) if path in str(a)]
        if shown or (name == "load_dataset" and path in json.dumps(kwargs.get("data_files"), default=str)):
            key = f"{kind}: {module}.{name}"
            counts[key] = counts.get(key, 0) + 1
        return real(*args, **kwargs)
    counted._counted = True
    if hasattr(real, "cache_clear"):  # an lru_cache: count only the calls that miss
        counted = functools.lru_cache(maxsize=32)(counted)
    setattr(mod, name, counted)

for module, name, kind in json.loads(os.environ["REDI_READERS"]):
    wrap(module, name, kind)

@atexit.register
def report():
    with open(os.environ["REDI_READS_OUT"], "w") as f:
        json.dump(counts, f)

import runpy
sys.argv = ["redi.run"] + json.loads(os.environ["REDI_ARGS"])
runpy.run_module("redi.run", run_name="__main__", alter_sys=True)
"""


def write_traces(path: Path, rows: int) -> None:
    """The synthetic teacher's rows for ``rows`` problems as Open-R1 jsonl (made by this checkout)."""
    sys.path.insert(0, str(REPO))
    from redi.config import SyntheticTeacherConfig
    from redi.data.synthetic import generate_teacher_rows

    data = generate_teacher_rows(SyntheticTeacherConfig(num_problems=rows, num_eval_problems=24))
    path.write_text("".join(json.dumps(r) + "\n" for r in data))


def count_reads(repo: Path, data: Path, work: Path) -> dict[str, int]:
    """Run the preference run with ``repo``'s code; the readers' call counts on ``data``."""
    out = work / "counts.json"
    args = ["experiment=smoke", "data.source=local", f"data.path={data}", "objective=redi", "alpha=0.8",
            "logger=off", "trainer.max_steps=2", "eval.at_start=false", "eval.every_n_steps=0", "eval.at_end=false",
            "~eval.benchmarks.synthetic", f"paths.cache_dir={work / 'cache'}", f"hydra.run.dir={work / 'run'}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(repo), "REDI_READS_FILE": str(data), "REDI_READS_OUT": str(out),
           "REDI_READERS": json.dumps(READERS), "REDI_ARGS": json.dumps(args)}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the run with {repo} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repo", action="append", type=Path, help="a checkout to measure (default: this one)"
    )
    parser.add_argument("--rows", type=int, default=400, help="problems in the data file")
    args = parser.parse_args()
    repos = args.repo or [REPO]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "traces.jsonl"
        write_traces(data, args.rows)
        for repo in repos:
            work = Path(tempfile.mkdtemp(dir=tmp))
            counts = count_reads(repo.resolve(), data, work)
            parses = sum(v for k, v in counts.items() if k.startswith("parse"))
            print(f"{repo}: {parses} full parses of the data file in one preference run (stage 1 not cached)")
            for key, value in sorted(counts.items()):
                print(f"  {value:>3}  {key}")


if __name__ == "__main__":
    main()
