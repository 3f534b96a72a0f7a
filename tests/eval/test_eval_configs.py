"""Every conf/eval option composes against the schema; the paper options carry the paper's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from redi.config import EvalConfig, register_configs
from redi.eval.evaluate import validate_eval_config
from redi.eval.prompts import OPEN_R1_PROMPT, resolve_prompt_template

CONF = Path(__file__).resolve().parents[2] / "conf"
OPTIONS = sorted(p.stem for p in (CONF / "eval").glob("*.yaml"))
PAPER_FIVE = {"math500", "aime24", "amc", "minerva", "olympiadbench"}


def _eval(option: str) -> EvalConfig:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"eval={option}"])
    return OmegaConf.to_object(cfg.eval)


@pytest.mark.parametrize("option", OPTIONS)
def test_option_composes_and_validates(option):
    cfg = _eval(option)
    assert isinstance(cfg, EvalConfig)
    validate_eval_config(cfg)


def test_paper_options():
    paper = _eval("paper")
    assert set(paper.benchmarks) == PAPER_FIVE
    assert (paper.num_samples, paper.temperature, paper.top_p, paper.max_new_tokens, paper.engine) == (
        16,
        0.6,
        0.95,
        32768,
        "vllm",
    )
    assert resolve_prompt_template(paper.prompt_template) == OPEN_R1_PROMPT
    assert paper.benchmarks["math500"].hub_id == "HuggingFaceH4/MATH-500"
    curves = _eval("paper_curves")
    assert set(curves.benchmarks) == {"math500"} and curves.num_samples == 4
    for name in PAPER_FIVE:
        single = _eval(name)
        assert set(single.benchmarks) == {name} and single.num_samples == 16


def test_paper_local_loads_the_real_files(benchmarks_dir, monkeypatch):
    from redi.eval.benchmarks import load_benchmark

    monkeypatch.setenv("REDI_BENCHMARKS_DIR", str(benchmarks_dir))
    cfg = _eval("paper_local")
    counts = {name: len(load_benchmark(name, b)) for name, b in cfg.benchmarks.items()}
    assert counts == {"math500": 500, "aime24": 30, "amc": 83, "minerva": 272, "olympiadbench": 675}
