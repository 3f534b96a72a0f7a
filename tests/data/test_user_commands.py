"""Issue 24's data items as a user types them: every data input takes effect or is refused before compute.

1. ``data.path`` without ``data.source=local`` is refused, naming both keys (a path does not imply the source).
4. Local data is decontaminated against the evaluation benchmarks: 10 training prompts that are evaluation
   problems verbatim are removed, and the funnel counts them; with decontamination off, no step claims it ran.
5. ``data.builder.length_count=paper`` takes effect for TRL-format data (and differs from ``text``).
10. SFT-only data trains with ``objective=sft``; a preference objective on it is one line before compute.
And ``data.path`` takes a folder or a glob of shards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAST = ["experiment=smoke", "logger=off", "trainer.max_steps=1", "stage1.epochs=1", "eval.at_start=false",
        "eval.every_n_steps=0", "eval.at_end=false"]  # fmt: skip


def redi_run(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m redi.run OVERRIDES`` in ``tmp_path``, as typed."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "redi.run", *overrides, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def refused(proc: subprocess.CompletedProcess) -> str:
    """The one error line of a run refused before compute (exit 2, no traceback)."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("redi: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# 1. data.path without data.source=local


def test_a_data_path_without_a_local_source_is_refused_naming_both_keys(tmp_path):
    line = refused(redi_run(tmp_path, "experiment=smoke", "data.path=no/such/file.jsonl"))
    assert "data.path='no/such/file.jsonl': read only when data.source=local" in line
    assert "data.source='synthetic'" in line
    assert not (tmp_path / "run").exists()  # nothing ran, not even a run directory


# ---------------------------------------------------------------------------------------------------------------
# 10. SFT-only data


def sums(n: int) -> list[tuple[str, str, str]]:
    return [(f"What is {a} + {b}?", f"{a} + {b} = {a + b}. The answer is \\boxed{{{a + b}}}.",
             f"{a} + {b} = {a + b + 1}. The answer is \\boxed{{{a + b + 1}}}.")
            for a in range(1, n + 1) for b in range(1, 7)]  # fmt: skip


@pytest.mark.slow
def test_sft_only_data_trains_and_a_preference_objective_on_it_is_one_line(tmp_path):
    path = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": p, "completion": c} for p, c, _ in sums(4)])
    common = [*FAST, "~eval.benchmarks.synthetic", "data.source=local", f"data.path={path}"]
    proc = redi_run(tmp_path, *common, "data.format=trl_prompt_completion", "objective=sft")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "completed" and status["data_funnel"]["sft_rows"] == 24
    assert status["data_funnel"]["pair_rows"] == 0
    line = refused(
        redi_run(tmp_path / "pref", *common, "data.format=trl_prompt_completion", "objective=redi")
    )
    assert "data.format=trl_prompt_completion: that format has no pairs" in line and "objective=sft" in line
    line = refused(redi_run(tmp_path / "auto", *common, "objective=dpo"))  # detected from the columns
    assert f"{path} is trl_prompt_completion (detected from its columns): that format has no pairs" in line


def test_an_unknown_format_is_refused_before_compute(tmp_path):
    line = refused(redi_run(tmp_path, "experiment=smoke", "data.format=sharegpt"))
    assert (
        "data.format='sharegpt': expected one of auto, kto, openr1, trl_preference, trl_prompt_completion"
        in line
    )


# ---------------------------------------------------------------------------------------------------------------
# 4. local data is decontaminated


@pytest.mark.slow
def test_ten_training_prompts_that_are_evaluation_problems_are_removed(tmp_path):
    rows = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in sums(8)]  # 48 pairs
    path = write_jsonl(tmp_path / "prefs.jsonl", rows)
    bench = write_jsonl(tmp_path / "mine.jsonl", [{"problem": r["prompt"], "answer": "x"} for r in rows[:10]])
    common = [*FAST, "~eval.benchmarks.synthetic", "data.source=local", f"data.path={path}",
              f"eval.benchmarks.mine.path={bench}"]  # fmt: skip
    proc = redi_run(tmp_path, *common, "objective=sft")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    funnel = json.loads((tmp_path / "run" / "status.json").read_text())["data_funnel"]
    assert (funnel["rows_source"], funnel["rows_decontaminated"], funnel["sft_rows"]) == (48, 38, 38)
    proc = redi_run(tmp_path / "off", *common, "objective=sft", "data.builder.decontaminate=false")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    funnel = json.loads((tmp_path / "off" / "run" / "status.json").read_text())["data_funnel"]
    assert "rows_decontaminated" not in funnel and funnel["sft_rows"] == 48  # kept, and no step claims it ran
    assert "no decontamination (data.builder.decontaminate=false" in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------------------------
# 5. length_count=paper for TRL data


def test_length_count_paper_takes_effect_for_trl_data(tmp_path):
    """``data.builder.length_count=paper`` (the default) counts a response as the chat template's assistant turn + 1:
    with the limit at the longest raw response, paper counting drops every pair that text counting keeps."""
    from redi.config import BuilderConfig, DataConfig
    from redi.data.build import build_training_data
    from redi.data.errors import DataError
    from redi.data.tokenize import Encoder, TokenizationSettings
    from redi.model.load import train_tokenizer

    rows = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in sums(8)]
    path = write_jsonl(tmp_path / "prefs.jsonl", rows)
    tokenizer = train_tokenizer([t for r in rows for t in r.values()], 300, "chatml_think")
    encoder = Encoder(tokenizer, TokenizationSettings("{problem}", 512, "keep_end", "chatml_think"))
    longest = max(encoder.count_tokens([r["chosen"], r["rejected"]])[i] for r in rows for i in (0, 1))

    def build(mode: str):
        builder = BuilderConfig(length_count=mode, max_response_tokens=longest, decontaminate=False)
        cfg = DataConfig(source="local", path=str(path), builder=builder)
        return build_training_data(
            cfg, encoder.count_tokens, None, tmp_path / "cache", "t", encoder.count_chat_message, tokenizer
        )

    assert build("text").funnel["pairs_responses_fit"] == 48
    with pytest.raises(DataError, match=r"'pairs_responses_fit': 0, 'sft_rows': 0"):
        build("paper")
