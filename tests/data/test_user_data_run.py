"""End to end through the entry point: a user's own TRL-format preference file (standard and conversational)
trains the smoke run, and a user benchmark by name is evaluated; the data funnel in status.json counts the file's
48 rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROWS = 48  # 8 x 6 distinct prompts, one pair each
STEPS = 2
# the smoke run on the user's file: no synthetic benchmark (it needs data.source=synthetic), two stage-2 steps
COMMON = ["experiment=smoke", "trainer.progress_bar=false", "logger=off", f"trainer.max_steps={STEPS}",
          "eval.every_n_steps=0", "eval.at_start=false", "~eval.benchmarks.synthetic"]  # fmt: skip

pytestmark = pytest.mark.slow


def pairs() -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected): a sum and its right and wrong worked answers in \\boxed{}."""
    out = []
    for a in range(1, 9):
        for b in range(1, 7):
            prompt = f"What is {a} + {b}?"
            right, wrong = a + b, a + b + 1
            out.append(
                (
                    prompt,
                    f"{a} + {b} = {right}. The answer is \\boxed{{{right}}}.",
                    f"{a} + {b} = {wrong}. The answer is \\boxed{{{wrong}}}.",
                )
            )
    return out


def standard_rows() -> list[dict]:
    return [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in pairs()]


def conversational_rows() -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": p}],
            "chosen": [{"role": "assistant", "content": c}],
            "rejected": [{"role": "assistant", "content": r}],
        }
        for p, c, r in pairs()
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(tmp_path: Path, *overrides: str) -> tuple[str, Path]:
    """``python -m redi.run`` in tmp_path; returns its output and run directory (after checking it exited 0)."""
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *COMMON, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out, run_dir


def check_completed(out: str, run_dir: Path, style: str) -> dict:
    """The run says the format it detected, completed its steps and counted all 48 rows in its funnel."""
    assert f"data format: trl_preference ({style}; detected from the columns)" in out, out[-3000:]
    assert "status: completed" in out
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["step"]) == ("completed", STEPS)
    funnel = status["data_funnel"]
    assert funnel["rows_loaded"] == funnel["pair_rows"] == funnel["sft_distinct_prompts"] == ROWS, funnel
    assert funnel["sft_rows"] == ROWS and funnel["rows_dropped_by_max_length"] == 0, funnel
    assert (run_dir / "model" / "config.json").is_file()
    return status


def test_a_standard_trl_preference_file_trains(tmp_path):
    path = write_jsonl(tmp_path / "prefs.jsonl", standard_rows())
    out, run_dir = run(tmp_path, "data.source=local", f"data.path={path}", "eval.at_end=false")
    status = check_completed(out, run_dir, "standard")
    assert not [k for k in status["final_metrics"] if k.startswith("eval/")]  # no benchmark was configured


def test_a_conversational_trl_file_trains_and_a_user_benchmark_is_evaluated(tmp_path):
    path = write_jsonl(tmp_path / "chats.jsonl", conversational_rows())
    # problems no training prompt holds (local data is decontaminated against the benchmarks: "What is 3 + 2?"
    # would remove that training pair)
    bench = write_jsonl(
        tmp_path / "mine.jsonl", [{"question": f"What is {i} + 20?", "gold": str(i + 20)} for i in range(5)]
    )
    out, run_dir = run(
        tmp_path,
        "data.source=local",
        f"data.path={path}",
        f"eval.benchmarks.mine.path={bench}",
        "eval.benchmarks.mine.problem_key=question",
        "eval.benchmarks.mine.answer_key=gold",
    )
    status = check_completed(out, run_dir, "conversational")
    assert "eval/mine/pass@1" in status["final_metrics"], status["final_metrics"]
    samples = [
        json.loads(line) for line in (run_dir / "eval" / f"step_{STEPS}.jsonl").read_text().splitlines()
    ]
    num_samples = 2  # the smoke experiment's eval.num_samples
    assert len(samples) == 5 * num_samples and {s["benchmark"] for s in samples} == {"mine"}
    assert sorted({s["gold"] for s in samples}) == [str(i + 20) for i in range(5)]
