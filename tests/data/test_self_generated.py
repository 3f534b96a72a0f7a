"""data=self_generated: k graded samples per training problem -> D_Pref and an RFT D_SFT, cached by model identity.

Hand-checkable counts come from a scripted engine graded by the real grader; a tiny Qwen2 built here samples
through the real hf engine; the cache is reused for the same model and rebuilt when the weights change.
"""

from __future__ import annotations

import json

import datasets
import pytest

from redi.config import DataConfig, EvalConfig, TinyArchConfig
from redi.data.errors import DataError
from redi.data.self_generated import (
    Sample,
    Sampler,
    TaskProblem,
    build_self_generated,
    build_tables,
    enabled,
    model_identity,
    task_problems,
    validate_self_generated,
)
from redi.data.tables import PAIR_COLUMNS, SFT_COLUMNS, BuiltData
from redi.model.engines import Generation
from redi.model.load import build_tiny_model, save_model, train_tokenizer
from redi.model.source import ModelSource

ARCH = TinyArchConfig(
    hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64
)
# per problem: the scripted samples (boxed answers; the gold is the problem's answer)
SCRIPT = {
    "p0": ["a \\boxed{5}", "b \\boxed{4}", "a \\boxed{5}", "c \\boxed{6}"],  # 2 correct (1 distinct), 2 wrong
    "p1": ["d \\boxed{7}", "e \\boxed{7}", "f \\boxed{7}", "g \\boxed{7}"],  # all correct
    "p2": ["h \\boxed{1}", "i", "j \\boxed{2}", "k \\boxed{3}"],  # all wrong (one without an answer)
    "p3": ["l \\boxed{10}", "m \\boxed{11}", "n \\boxed{10}", "o \\boxed{12}"],  # 2 distinct correct, 2 wrong
}
ANSWERS = {"p0": "5", "p1": "7", "p2": "9", "p3": "10"}


def task_build(extra: dict[str, str] | None = None) -> BuiltData:
    """The teacher's build the problems come from: its D_SFT (the responses are the teacher's, unused here)."""
    answers = {**ANSWERS, **(extra or {})}
    sft = datasets.Dataset.from_dict(
        {
            "problem_id": list(answers),
            "problem": [f"What is {pid}?" for pid in answers],
            "response": ["teacher"] * len(answers),
            "answer": list(answers.values()),
        }
    )
    empty = datasets.Dataset.from_dict({k: [] for k in PAIR_COLUMNS})
    return BuiltData(sft=sft, pairs=empty, funnel={}, key="task-key")


def data_config(**block) -> DataConfig:
    data = DataConfig()
    data.self_generated.enabled = True
    for key, value in block.items():
        setattr(data.self_generated, key, value)
    return data


def eval_config() -> EvalConfig:
    cfg = EvalConfig()
    cfg.grader.workers = 1
    cfg.progress_bar = False
    return cfg


class ScriptedEngine:
    """Returns SCRIPT's samples for each prompt's problem (found by its id in the prompt text)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def generate(self, prompts: list[str], num_samples: int, seed: int) -> list[list[Generation]]:
        self.calls.append((len(prompts), num_samples, seed))
        out = []
        for prompt in prompts:
            pid = next(p for p in SCRIPT if f"What is {p}?" in prompt)
            texts = SCRIPT[pid][:num_samples]
            out.append([Generation(t, len(t), "length" if t == "i" else "stop") for t in texts])
        return out


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["What is p0? a \\boxed{5}."] * 20, vocab_size=300, chat_template="auto")


@pytest.fixture(scope="module")
def model_dirs(tokenizer, tmp_path_factory):
    """Two saved tiny models differing only in their initialisation seed."""
    root = tmp_path_factory.mktemp("models")
    for seed in (0, 1):
        save_model(build_tiny_model(ARCH, tokenizer, seed=seed), tokenizer, root / f"m{seed}")
    return root / "m0", root / "m1"


def scripted_sampler(directory, tokenizer, opened: list) -> Sampler:
    def open_engine(settings):
        opened.append(settings)
        return ScriptedEngine(), tokenizer

    return Sampler(model_identity(ModelSource("dir", str(directory))), open_engine)


def test_tables_from_hand_counted_samples():
    problems = [TaskProblem(pid, f"What is {pid}?", ANSWERS[pid]) for pid in SCRIPT]
    samples = [
        [Sample(t, f"\\boxed{{{ANSWERS[pid]}}}" in t, "length" if t == "i" else "stop") for t in SCRIPT[pid]]
        for pid in SCRIPT
    ]
    block = data_config(pairs_per_problem=2, sft_per_problem=2).self_generated
    funnel: dict[str, int] = {}
    sft, pairs = build_tables(problems, samples, block, swap=False, funnel=funnel)
    assert funnel["samples"] == 16 and funnel["samples_truncated"] == 1
    assert (funnel["samples_correct"], funnel["samples_incorrect"]) == (8, 8)
    assert funnel["problems_has_correct"] == 3 and funnel["problems_has_both"] == 2
    # D_SFT: p0 has one distinct correct sample, p1 four (two kept), p3 two; D_Pref: p0 one pair, p3 two, p1 none
    assert sft["problem_id"] == ["p0", "p1", "p1", "p3", "p3"]
    assert sft["response"][3:] == ["l \\boxed{10}", "n \\boxed{10}"]
    assert pairs["problem_id"] == ["p0", "p3", "p3"]
    assert pairs["chosen"] == ["a \\boxed{5}", "l \\boxed{10}", "n \\boxed{10}"]
    assert pairs["rejected"] == ["b \\boxed{4}", "m \\boxed{11}", "o \\boxed{12}"]
    assert (funnel["sft_rows"], funnel["pair_rows"]) == (5, 3)
    assert sft.column_names == list(SFT_COLUMNS) and pairs.column_names == list(PAIR_COLUMNS)
    _, swapped = build_tables(problems, samples, block, swap=True, funnel={})
    assert swapped["chosen"] == pairs["rejected"] and swapped["rejected"] == pairs["chosen"]
    dropped: dict[str, int] = {}
    block.drop_truncated = True
    build_tables(problems, samples, block, swap=False, funnel=dropped)
    assert dropped["samples_kept"] == 15 and dropped["samples_incorrect"] == 7


def test_problems_are_the_first_with_an_answer():
    funnel: dict[str, int] = {}
    problems = task_problems(task_build({"p4": "", "p5": "3"}).sft, max_problems=5, funnel=funnel)
    assert [p.problem_id for p in problems] == ["p0", "p1", "p2", "p3"]  # p4 has no answer; p5 is the 6th
    assert funnel == {
        "problems_available": 6,
        "problems_max_problems": 5,
        "problems_no_answer": 1,
        "problems": 4,
    }


def test_bad_keys_fail_naming_the_key(tmp_path):
    with pytest.raises(DataError, match=r"data\.self_generated\.num_samples=1: a pair needs"):
        validate_self_generated(data_config(num_samples=1).self_generated)
    with pytest.raises(DataError, match=r"data\.self_generated\.engine='gpu'"):
        validate_self_generated(data_config(engine="gpu").self_generated)
    with pytest.raises(DataError, match=r"data\.self_generated\.model: local path .*does not exist"):
        validate_self_generated(data_config(model=str(tmp_path / "nope")).self_generated)
    with pytest.raises(DataError, match=r"max_problems=0"):
        validate_self_generated(data_config(max_problems=0).self_generated)
    validate_self_generated(DataConfig().self_generated)  # off: nothing is checked
    assert enabled(data_config()) and not enabled(DataConfig())


def test_build_is_cached_and_rebuilt_for_another_model(tmp_path, tokenizer, model_dirs):
    opened: list = []
    data = data_config(num_samples=4, seed=3)
    built = build_self_generated(
        data, task_build(), scripted_sampler(model_dirs[0], tokenizer, opened), eval_config(), tmp_path
    )
    assert built.funnel["problems"] == 4 and built.funnel["samples"] == 16
    assert (built.funnel["sft_rows"], built.funnel["pair_rows"]) == (3, 2)  # pairs for p0 and p3, one each
    assert built.path.parent == tmp_path / "data" and built.path.name.startswith("self-")
    lines = (built.path / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 16 and json.loads(lines[0])["correct"] is True
    assert json.loads((built.path / "inputs.json").read_text())["task_build"] == "task-key"
    again = build_self_generated(
        data, task_build(), scripted_sampler(model_dirs[0], tokenizer, opened), eval_config(), tmp_path
    )
    assert len(opened) == 1 and again.key == built.key and again.pairs["chosen"] == built.pairs["chosen"]
    other = build_self_generated(
        data, task_build(), scripted_sampler(model_dirs[1], tokenizer, opened), eval_config(), tmp_path
    )
    assert len(opened) == 2 and other.key != built.key  # new weights: a new build
    hotter = data_config(num_samples=4, seed=3, temperature=0.7)
    build_self_generated(
        hotter, task_build(), scripted_sampler(model_dirs[0], tokenizer, opened), eval_config(), tmp_path
    )
    assert len(opened) == 3 and opened[-1].temperature == 0.7  # a sampling setting is in the key too


def test_tiny_model_samples_k_through_the_hf_engine(tmp_path, model_dirs):
    """An untrained tiny model through the real hf engine: 4 problems x 3 samples, none right, no entry cached."""
    from redi.inputs.self_generated import sampler

    cfg = _run_config(model_dirs[0])
    with pytest.raises(
        DataError, match=r"0 of 12 samples on 4 problems were correct \(12 hit data\.self_generated"
    ):
        build_self_generated(
            cfg.data, task_build(), sampler(cfg, env=_cpu(), stage1=None), eval_config(), tmp_path
        )
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith("self-") and p.is_dir()]


def _cpu():
    from redi.infra.distributed import DistEnv

    return DistEnv()


def _run_config(model_dir):
    from omegaconf import OmegaConf

    from redi.config import Config

    cfg = OmegaConf.structured(Config)
    cfg.data.self_generated.enabled = True
    cfg.data.self_generated.model = str(model_dir)
    cfg.data.self_generated.num_samples = 3
    cfg.data.self_generated.max_new_tokens = 8
    cfg.eval.grader.workers = 1
    return cfg


def _compose(*overrides: str):
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    import redi.run  # noqa: F401  (registers the schemas and resolvers)

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_teacher_and_self_generated_runs_share_stage1_and_keys_are_checked_up_front():
    from redi.stages.stage1 import stage1_config, stage1_dir
    from redi.validate import ConfigError, validate

    teacher, own = _compose("data=synthetic_shortcut"), _compose("data=self_generated")
    assert stage1_dir(teacher) == stage1_dir(own)  # one stage-1 model for both halves of a sweep
    assert stage1_config(own).data.self_generated.enabled is False  # trained on the teacher's D_SFT
    validate(own)
    bad = _compose("data=self_generated", "data.self_generated.num_samples=1", "data.self_generated.top_p=0")
    with pytest.raises(ConfigError) as err:
        validate(bad)
    assert "data.self_generated.num_samples=1" in str(err.value) and "data.self_generated.top_p=0" in str(
        err.value
    )


@pytest.mark.slow
def test_smoke_run_samples_the_stage1_model_and_names_the_funnel(tmp_path):
    """The smoke stage-1 model is never right: the run samples, grades and stops with the counts and the keys."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    args = ["experiment=smoke", "data=self_generated", "trainer.progress_bar=false", "eval.grader.workers=1",
            "data.self_generated.max_problems=6", "data.self_generated.num_samples=2",
            "data.self_generated.max_new_tokens=16"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "data.self_generated: the sampling model's samples made no pairs" in out, out[-3000:]
    assert "0 of 12 samples on 6 problems were correct" in out, out[-3000:]
