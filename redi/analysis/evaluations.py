"""A run's per-sample evaluations, wherever the run lives: a run directory's ``eval/step_N.jsonl`` or a committed
sweep's raw/ (located as ``raw/<run>``, redi.analysis.records.RAW_PREFIX)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from redi.analysis import raw
from redi.analysis.records import RAW_PREFIX


def problem_scores(frame: pd.DataFrame, location: str, step: int, benchmark: str | None = None) -> pd.Series:
    """Per-problem mean correctness of the run at ``location`` and ``step`` (a run directory's eval/step_N.jsonl, or
    a committed sweep's raw/): a Series indexed by (benchmark, prompt_id). FileNotFoundError when not evaluated."""
    from redi.eval import paired

    if location.startswith(RAW_PREFIX):
        return raw.problem_scores(frame.attrs["source"], location.removeprefix(RAW_PREFIX), step, benchmark)
    return paired.problem_scores(location, step, benchmark)


def eval_steps(frame: pd.DataFrame, location: str) -> list[int]:
    """The steps with per-sample evaluations of the run at ``location``, ascending."""
    from redi.eval import paired

    if location.startswith(RAW_PREFIX):
        return raw.eval_steps(frame.attrs["source"], location.removeprefix(RAW_PREFIX))
    return paired.eval_steps(location)


def sample_rows(frame: pd.DataFrame, location: str, step: int) -> pd.DataFrame:
    """The run's samples at ``step`` as raw/samples.tsv rows (redi.analysis.raw): read from a committed sweep, or
    read and classified from a run directory's eval/step_N.jsonl."""
    if location.startswith(RAW_PREFIX):
        samples = raw.read_samples(frame.attrs["source"])
        run = location.removeprefix(RAW_PREFIX)
        return samples[(samples["run"] == run) & (samples["step"] == int(step))].reset_index(drop=True)
    run_dir = Path(location)
    reader = raw.FailureReader(raw.run_entry(run_dir)["config"])
    rows = [r for r in raw.sample_lines(run_dir.name, run_dir, reader) if int(r[1]) == int(step)]
    out = pd.DataFrame(rows, columns=list(raw.SAMPLE_COLUMNS))
    out["step"] = out["step"].astype(int)
    return out
