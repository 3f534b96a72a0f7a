"""The model side of ``data=self_generated``: which model samples, and the build over the task's own build.

redi.data.self_generated does the sampling, grading and tables; this module resolves the sampling model (the
cached stage-1 model by default, whose run directory the entry point passes in, or the path / hub id in
data.self_generated.model) and loads it only when the self-generated build is not cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from redi.data.self_generated import KEY, Sampler, build_self_generated, model_identity
from redi.infra.cache import cache_dir
from redi.infra.distributed import DistEnv
from redi.model.load import load_model, load_tokenizer
from redi.model.resolve import resolve_source
from redi.model.source import ModelSource


def sampling_source(cfg: DictConfig, env: DistEnv, stage1: Path | None) -> ModelSource:
    """The model data.self_generated.model names; "stage1" is this config's cached stage-1 model."""
    block = cfg.data.self_generated
    if block.model == "stage1":
        if stage1 is None:
            raise ValueError(
                f"{KEY}.model=stage1 needs the stage-1 run directory (redi.stages.stage1.ensure)"
            )
        return ModelSource("dir", str(Path(stage1) / "model"))
    return resolve_source(block.model, f"{KEY}.model", cfg.model.tokenizer)


def sampler(cfg: DictConfig, env: DistEnv, stage1: Path | None) -> Sampler:
    """The sampling model's identity now, its engine (hf: loaded on env.device; vllm: by path) on demand."""
    source = sampling_source(cfg, env, stage1)

    def open_engine(settings: Any) -> tuple[Any, Any]:
        from redi.model.engines import make_engine

        tokenizer = load_tokenizer(source, cfg.model)
        if settings.engine == "vllm":
            return make_engine(settings, None, tokenizer, source.location), tokenizer
        model = load_model(source, cfg.model, env.device)
        return make_engine(settings, model, tokenizer), tokenizer

    return Sampler(model_identity(source, cfg.model.revision), open_engine)


def self_generated_data(cfg: DictConfig, task: Any, env: DistEnv | None, stage1: Path | None) -> Any:
    """The self-generated BuiltData for ``cfg`` on the problems of ``task`` (the teacher's build of cfg.data)."""
    env = env if env is not None else DistEnv()
    return build_self_generated(cfg.data, task, sampler(cfg, env, stage1), cfg.eval, cache_dir(cfg))
