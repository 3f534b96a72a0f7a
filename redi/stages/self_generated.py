"""The stage side of ``data=self_generated``: which model samples, and the build over the task's own build.

redi.data.self_generated does the sampling, grading and tables; this module resolves the sampling model (the
cached stage-1 model by default, built first when absent, or the path / hub id in data.self_generated.model) and
loads it only when the self-generated build is not cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from redi.data.self_generated import KEY, Sampler, build_self_generated, model_identity
from redi.infra.distributed import DistEnv
from redi.model import ModelSource, load_model, load_tokenizer, resolve_source


def sampling_source(cfg: DictConfig, env: DistEnv, stage1: Path | None) -> ModelSource:
    """The model data.self_generated.model names; "stage1" is this config's cached stage-1 model."""
    block = cfg.data.self_generated
    if block.model == "stage1":
        if stage1 is None:
            from redi.stages.stage1 import ensure

            stage1 = ensure(cfg, env)  # cached: trained only when no completed one exists
        return ModelSource("dir", str(Path(stage1) / "model"))
    return resolve_source(block.model, f"{KEY}.model", cfg.model.tokenizer)


def sampler(cfg: DictConfig, env: DistEnv, stage1: Path | None) -> Sampler:
    """The sampling model's identity now, its engine (hf: loaded on env.device; vllm: by path) on demand."""
    source = sampling_source(cfg, env, stage1)

    def open_engine(settings: Any) -> tuple[Any, Any]:
        from redi.eval.engines import make_engine

        tokenizer = load_tokenizer(source, cfg.model)
        if settings.engine == "vllm":
            return make_engine(settings, None, tokenizer, source.location), tokenizer
        model = load_model(source, cfg.model, env.device)
        return make_engine(settings, model, tokenizer), tokenizer

    return Sampler(model_identity(source, cfg.model.revision), open_engine)


def self_generated_data(cfg: DictConfig, task: Any, env: DistEnv | None, stage1: Path | None) -> Any:
    """The self-generated BuiltData for ``cfg`` on the problems of ``task`` (the teacher's build of cfg.data)."""
    from redi.stages.inputs import cache_dir

    env = env if env is not None else DistEnv()
    return build_self_generated(cfg.data, task, sampler(cfg, env, stage1), cfg.eval, cache_dir(cfg))
