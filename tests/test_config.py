"""Every config option composes; schemas reject misspelled keys and wrong types; bad values fail fast, by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

import redi.run  # noqa: F401  (registers schemas and resolvers)
from redi.validate import ConfigError, validate

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ["objective", "model", "data", "trainer", "eval", "logger", "experiment", "sweep"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def make(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_default_is_redi_alpha_08_on_the_tiny_model():
    cfg = make()
    assert cfg.objective.name == "redi" and cfg.objective.alpha == 0.8 and cfg.alpha == 0.8
    assert cfg.model.base is None and cfg.model.init_from == "stage1"
    spec, hyper = validate(cfg)
    assert spec.name == "redi" and hyper == {"alpha": 0.8}


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = make(f"{group}={option}")
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


def test_every_group_has_options():
    for group in GROUPS:
        assert options(group), f"conf/{group}/ is empty"


def test_root_keys_reach_the_objective():
    cfg = make("objective=simpo", "beta=10", "gamma=5")
    assert (cfg.objective.beta, cfg.objective.gamma) == (10, 5)
    cfg = make("objective=symmetric")
    assert cfg.objective.name == "redi" and cfg.objective.alpha == 1.0


def test_misspelled_key_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="epocs"):
        make("trainer.epocs=2")


def test_wrong_type_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="micro_batch_size"):
        make("trainer.micro_batch_size=many")


def test_unknown_objective_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="objective"):
        make("objective=ppo")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["alpha=1.5"], r"alpha=1\.5: must be <= 1"),
        (["objective=dpo", "beta=0"], r"beta=0\.0: must be > 0"),
        (["objective=simpo", "gamma=-1"], r"gamma=-1\.0: must be >= 0"),
        (["objective=sft", "alpha=0.5"], r"alpha=0\.5: objective 'sft' does not use this key"),
        (["objective=dpo", "alpha=0.5"], r"alpha=0\.5: objective 'dpo' does not use"),
        (["model.init_from=/no/such/model"], r"model\.init_from: local path '/no/such/model' does not exist"),
        (["model.init_from=./relative/missing"], r"model\.init_from: local path"),
        (["trainer.warmup_ratio=1.5"], r"trainer\.warmup_ratio=1\.5"),
        (["trainer.collapse.rule=fast"], r"trainer\.collapse\.rule='fast'"),
        (["trainer.collapse.loss_ratio=0.5"], r"trainer\.collapse\.loss_ratio=0\.5: must be > 1"),
        (["eval.engine=vllm"], r"eval\.engine=vllm but vLLM is not installed"),
        (["data.source=local"], r"data\.path: required"),
        (["objective.name=ppo"], r"objective\.name: unknown objective 'ppo'"),
    ],
)
def test_bad_configs_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        validate(make(*overrides))


def test_a_hub_id_in_the_local_cache_validates_offline(tmp_path, monkeypatch):
    snapshot = tmp_path / "models--Qwen--Qwen2.5-Math-1.5B" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--Qwen--Qwen2.5-Math-1.5B" / "refs").mkdir()
    (tmp_path / "models--Qwen--Qwen2.5-Math-1.5B" / "refs" / "main").write_text("abc")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    validate(make("model.init_from=Qwen/Qwen2.5-Math-1.5B"))  # cached: used as is, no network needed
    with pytest.raises(
        ValueError, match=r"model.init_from='Qwen/Other': HF_HUB_OFFLINE=1 and it is not in the local cache"
    ):
        validate(make("model.init_from=Qwen/Other"))


def test_run_dir_is_named_by_the_overrides():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["alpha=0.5"], return_hydra_config=True)
    assert cfg.hydra.run.dir  # composes; the directory name itself is set by Hydra at run time
    assert isinstance(ConfigError("x"), ValueError)


def test_stage1_cache_key_follows_what_changes_the_model():
    from redi.stages.stage1 import stage1_dir

    base = make()
    assert stage1_dir(base) == stage1_dir(
        make("objective=dpo", "beta=0.1", "lr=1e-5")
    )  # stage 2 does not count
    assert stage1_dir(base) != stage1_dir(base, world_size=2)  # twice the global batch
    halved = make("stage1.micro_batch_size=16")
    assert stage1_dir(halved, world_size=2) == stage1_dir(base)  # the same global batch, split differently
    assert stage1_dir(base) != stage1_dir(make("stage1.lr=1e-3"))
    assert stage1_dir(base) != stage1_dir(make("data.synthetic.difficulty=0.5"))
    assert stage1_dir(base) == stage1_dir(make("stage1.threads=2"))  # how many cores train it, not what


def test_stage1_threads_hold_inside_the_stage_1_block_only():
    import torch

    from redi.stages.stage1 import torch_threads

    before = torch.get_num_threads()
    other = 2 if before != 2 else 1
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    assert make("experiment=none").stage1.threads is None and make().stage1.threads == 2  # the main job
