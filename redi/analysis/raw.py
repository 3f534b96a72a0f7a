"""A sweep's raw results, compact enough to commit: every run's config, status and metrics, and every sample's verdict.

    redi analyze --export runs/sweeps/<name> sweeps/<name>     # writes sweeps/<name>/raw/, then its tables and figures
    redi analyze sweeps/<name>                                 # regenerates them from raw/ alone, byte for byte

``raw/runs.jsonl.gz``: one line per run (sorted by name): its directory name, the overrides it was started with, its
composed config (``.hydra/config.yaml``), its status.json and every row of its metrics.jsonl.
``raw/samples.tsv.gz``: one line per (run, evaluation step, benchmark, problem), with the problem's samples in
sample-index order, space-separated: ``correct`` (1/0), ``tokens`` (generated tokens), ``truncated`` (1 when it
hit max_new_tokens), ``kind`` (the failure kind a wrong sample shows, from the synthetic task's classifier,
redi.data.synthetic.classify; ``-`` for a correct sample or where the benchmark has no classifier) and ``shortcut``
(``<shortcuts>/<steps with column work>``, the shortcut task's behaviour; ``-`` elsewhere). Gzip streams carry no
file name or time, and lines are sorted, so exporting the same runs twice gives the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

RAW_DIR = "raw"
RUNS_FILE = "runs.jsonl.gz"
SAMPLES_FILE = "samples.tsv.gz"
SAMPLE_COLUMNS = (
    "run",
    "step",
    "benchmark",
    "prompt_id",
    "correct",
    "tokens",
    "truncated",
    "kind",
    "shortcut",
)
NONE = "-"


def has_raw(directory: str | Path) -> bool:
    """Whether ``directory`` is a committed sweep (it holds raw/runs.jsonl.gz)."""
    return (Path(directory) / RAW_DIR / RUNS_FILE).is_file()


def _write_gzip(path: Path, text: str) -> None:
    """Gzip ``text`` with no name and mtime 0 in the header: the bytes depend on the text only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.encode("utf-8"))


def _read_gzip(path: Path) -> str:
    with gzip.open(path, "rb") as f:
        return f.read().decode("utf-8")


# ---------------------------------------------------------------------------------------------------------------
# export: run directories -> raw/


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a crash: what came before is intact
    return rows


def run_entry(run_dir: Path) -> dict[str, Any]:
    """One run's line of runs.jsonl: name, overrides, composed config, status, metrics rows."""
    hydra = run_dir / ".hydra"
    config = yaml.safe_load((hydra / "config.yaml").read_text()) if (hydra / "config.yaml").is_file() else {}
    overrides = (
        yaml.safe_load((hydra / "overrides.yaml").read_text()) if (hydra / "overrides.yaml").is_file() else []
    )
    status = json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").is_file() else {}
    return {
        "run": run_dir.name,
        "overrides": overrides or [],
        "config": config or {},
        "status": status,
        "metrics": _jsonl(run_dir / "metrics.jsonl"),
    }


class FailureReader:
    """The failure kind and shortcut counts of a sample, where its benchmark has a classifier (the synthetic task)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.expressions: dict[str, str] = {}
        self.task = ""
        data = config.get("data") or {}
        synthetic = data.get("synthetic")
        benches = (config.get("eval") or {}).get("benchmarks") or {}
        if synthetic and any((b or {}).get("source") == "synthetic" for b in benches.values()):
            self.task = synthetic.get("task", "column")
            self.expressions = _expressions(json.dumps(synthetic, sort_keys=True))

    def kind(self, sample: dict[str, Any]) -> str:
        if sample.get("correct") or sample.get("prompt_id") not in self.expressions:
            return NONE
        from redi.data.synthetic import classify_mistake

        expression = self.expressions[sample["prompt_id"]]
        return (
            classify_mistake(expression, str(sample.get("gold", "")), sample.get("text") or "", self.task)
            or NONE
        )

    def shortcut(self, sample: dict[str, Any]) -> str:
        if self.task != "shortcut":
            return NONE
        from redi.data.synthetic import shortcut_counts

        taken, eligible = shortcut_counts(sample.get("text") or "")
        return f"{taken}/{eligible}"


@lru_cache(maxsize=8)
def _expressions(synthetic_json: str) -> dict[str, str]:
    """prompt id -> expression of the synthetic teacher's held-out problems for these settings."""
    from redi.data.synthetic import heldout_problems
    from redi.data.synthetic.teacher import teacher_config

    settings = teacher_config(json.loads(synthetic_json))  # the model teacher's nested blocks as dataclasses
    return {p["id"]: p["expression"] for p in heldout_problems(settings)}


def sample_lines(run: str, run_dir: Path, reader: FailureReader) -> Iterator[list[str]]:
    """samples.tsv rows of one run: a row per (step, benchmark, problem), its samples in sample-index order."""
    eval_dir = run_dir / "eval"
    files = sorted(eval_dir.glob("step_*.jsonl")) if eval_dir.is_dir() else []
    for path in files:
        step = path.stem.removeprefix("step_")
        if not step.isdigit():
            continue
        problems: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for sample in _jsonl(path):
            problems.setdefault((str(sample["benchmark"]), str(sample["prompt_id"])), []).append(sample)
        for (bench, prompt_id), samples in problems.items():
            samples.sort(key=lambda s: int(s.get("sample_index", 0)))
            yield [
                run,
                step,
                bench,
                prompt_id,
                " ".join("1" if s.get("correct") else "0" for s in samples),
                " ".join(str(int(s.get("num_tokens") or 0)) for s in samples),
                " ".join("1" if s.get("finish_reason") == "length" else "0" for s in samples),
                " ".join(reader.kind(s) for s in samples),
                " ".join(reader.shortcut(s) for s in samples),
            ]


def _tsv(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a run directory (its composed config or its status.json)."""
    return (path / ".hydra" / "config.yaml").exists() or (path / "status.json").exists()


def export_sweep(sweep_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/raw/`` from the run directories under ``sweep_dir``; returns the two files."""
    sweep_dir = Path(sweep_dir)
    run_dirs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and is_run_dir(p))
    if not run_dirs:
        raise FileNotFoundError(f"{sweep_dir}: no run directories to export")
    entries, rows = [], []
    for run_dir in run_dirs:
        entry = run_entry(run_dir)
        entries.append(json.dumps(entry, sort_keys=True, ensure_ascii=False))
        rows.extend(sample_lines(run_dir.name, run_dir, FailureReader(entry["config"])))
    rows.sort(key=lambda r: (r[0], int(r[1]), r[2], r[3]))
    raw = Path(out_dir) / RAW_DIR
    runs_path, samples_path = raw / RUNS_FILE, raw / SAMPLES_FILE
    _write_gzip(runs_path, "".join(e + "\n" for e in entries))
    _write_gzip(samples_path, _tsv(rows))
    return [runs_path, samples_path]


# ---------------------------------------------------------------------------------------------------------------
# reading raw/ back


def read_runs(directory: str | Path) -> list[dict[str, Any]]:
    """The entries of ``<directory>/raw/runs.jsonl.gz`` (see :func:`run_entry`)."""
    text = _read_gzip(Path(directory) / RAW_DIR / RUNS_FILE)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=4)
def _samples(path: str, stamp: float) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, compression="gzip")
    frame["step"] = frame["step"].astype(int)
    return frame


def read_samples(directory: str | Path) -> pd.DataFrame:
    """``<directory>/raw/samples.tsv.gz`` as a table of strings (``step`` as int), one row per problem."""
    path = Path(directory) / RAW_DIR / SAMPLES_FILE
    return _samples(str(path), path.stat().st_mtime)


def problem_scores(directory: str | Path, run: str, step: int, benchmark: str | None = None) -> pd.Series:
    """Per-problem mean correctness of ``run`` at ``step`` from raw/: a Series indexed by (benchmark, prompt_id),
    as redi.eval.paired.problem_scores reads it from a run directory. FileNotFoundError when not evaluated."""
    frame = read_samples(directory)
    rows = frame[(frame["run"] == run) & (frame["step"] == int(step))]
    if benchmark is not None:
        rows = rows[rows["benchmark"] == benchmark]
    if rows.empty:
        raise FileNotFoundError(f"{directory}/{RAW_DIR}: no evaluation of {run} at step {step}")
    scores = [sum(map(int, c.split())) / len(c.split()) for c in rows["correct"]]
    index = pd.MultiIndex.from_arrays(
        [rows["benchmark"], rows["prompt_id"]], names=["benchmark", "prompt_id"]
    )
    return pd.Series(scores, index=index, name="correct").sort_index()


def eval_steps(directory: str | Path, run: str) -> list[int]:
    """The steps at which ``run`` has per-sample evaluations in raw/, ascending."""
    frame = read_samples(directory)
    return sorted(int(s) for s in frame.loc[frame["run"] == run, "step"].unique())
