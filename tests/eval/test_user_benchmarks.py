"""A user's own benchmark by name (eval.benchmarks.<name>.path=...): composes, is completed with the schema's
defaults, and is read and checked before any training, failing with one line naming the benchmark and row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import redi.run  # noqa: F401  (registers schemas and resolvers)
from redi.eval.benchmarks import BenchmarkError, check_benchmarks, load_benchmark
from redi.validate import ConfigError, validate

REPO = Path(__file__).resolve().parents[2]


def make(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_new_benchmark_name_composes_and_gets_the_defaults(tmp_path):
    path = write(tmp_path / "mine.jsonl", [{"q": "What is 1 + 1?", "a": "2"}, {"q": "2 + 2?", "a": 4}])
    cfg = make(
        f"eval.benchmarks.mine.path={path}",
        "eval.benchmarks.mine.problem_key=q",
        "eval.benchmarks.mine.answer_key=a",
    )
    validate(cfg)
    mine = cfg.eval.benchmarks.mine
    assert (mine.source, mine.split, mine.solution_key) == (
        "local",
        "test",
        "solution",
    )  # the schema's defaults
    assert set(cfg.eval.benchmarks) == {"synthetic", "mine"}
    assert [p.answer for p in load_benchmark("mine", mine)] == ["2", "4"]
    assert check_benchmarks(cfg.eval.benchmarks) == {"mine": 2}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.benchmarks.mine.pth=x", r"eval.benchmarks.mine.pth: Key 'pth' not in 'BenchmarkConfig'"),
        ("eval.benchmarks.mine.limit=many", r"eval.benchmarks.mine.limit: "),
        (
            "eval.benchmarks.mine.source=local",
            r"eval.benchmarks.mine.path: required when eval.benchmarks.mine.source=local",
        ),
        (
            "eval.benchmarks.mine.path=/no/such.jsonl",
            r"eval.benchmarks.mine.path='/no/such.jsonl': no such file",
        ),
    ],
)
def test_bad_entries_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(make(override))


def test_a_bad_row_fails_in_validation_naming_benchmark_file_and_row(tmp_path):
    path = write(
        tmp_path / "mine.jsonl", [{"problem": "1 + 1?", "answer": "2"}, {"question": "2 + 2?", "answer": "4"}]
    )
    with pytest.raises(ConfigError, match=r"eval.benchmarks.mine: .*mine.jsonl row 1: key 'problem'"):
        validate(make(f"eval.benchmarks.mine.path={path}"))
    with pytest.raises(BenchmarkError, match="hub_id: required"):
        check_benchmarks({"h": {"source": "hub"}})


def test_own_data_with_the_synthetic_benchmark_says_how_to_drop_it(tmp_path):
    data = write(
        tmp_path / "prefs.jsonl", [{"prompt": "1 + 1?", "chosen": "\\boxed{2}", "rejected": "\\boxed{3}"}]
    )
    own = ["data.source=local", f"data.path={data}"]
    with pytest.raises(ConfigError) as err:
        validate(make(*own))
    assert str(err.value).endswith(
        "eval.benchmarks.synthetic.source=synthetic needs data.source=synthetic (got data.source='local'): "
        "drop it with ~eval.benchmarks.synthetic and add your own with eval.benchmarks.<name>.path=FILE"
    )
    bench = write(tmp_path / "mine.jsonl", [{"problem": "2 + 2?", "answer": "4"}])
    validate(make(*own, "~eval.benchmarks.synthetic", f"eval.benchmarks.mine.path={bench}"))  # the fix works


@pytest.mark.slow
def test_the_entry_point_reports_a_bad_benchmark_before_stage_1(tmp_path):
    path = write(tmp_path / "mine.jsonl", [{"problem": "1 + 1?"}])
    cache = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", "experiment=smoke", f"eval.benchmarks.mine.path={path}",
         f"paths.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("redi: error: eval.benchmarks.mine: ")
    assert "row 0: no gold answer" in proc.stderr and "Traceback" not in proc.stderr
    assert not (cache / "stage1").exists()  # nothing was trained
