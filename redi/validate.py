"""Cross-field checks Hydra's schemas cannot express; every error names the key, before any compute."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from redi.loop.collapse import validate_collapse_config
from redi.model import resolve_source
from redi.objectives import ObjectiveSpec, get_objective, root_hyperparameters


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the offending key and value."""


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(allowed)}")


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key}={value}: must be {'>= 0' if allow_zero else '> 0'}")


def objective_hyperparameters(cfg: DictConfig, spec: ObjectiveSpec) -> dict[str, float]:
    """The objective's hyperparameters from the root keys; a root key it does not use is an error."""
    unused = [k for k in root_hyperparameters() if cfg.get(k) is not None and k not in spec.hyperparameters]
    if unused:
        given = ", ".join(f"{k}={cfg.get(k)}" for k in unused)
        uses = ", ".join(spec.hyperparameters) or f"none of {'/'.join(root_hyperparameters())}"
        raise ConfigError(
            f"{given}: objective {spec.name!r} does not use {'this key' if len(unused) == 1 else 'these keys'} "
            f"(it uses {uses}); remove the override"
        )
    values = {k: cfg.get(k) for k in spec.hyperparameters}
    try:
        spec.validate(**values)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    return {k: float(v) for k, v in values.items()}


def validate(cfg: DictConfig) -> tuple[ObjectiveSpec, dict[str, float]]:
    """Check the whole config; returns the objective and its hyperparameters."""
    try:
        spec = get_objective(cfg.objective.name)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    hyper = objective_hyperparameters(cfg, spec)
    _positive("lr", cfg.lr)
    _choice("mode", cfg.mode, ("train", "eval", "stage1"))

    m = cfg.model
    if m.base is not None:
        resolve_source(m.base, "model.base")
    if (spec.needs_pairs or cfg.mode == "eval") and m.init_from != "stage1" and cfg.mode != "stage1":
        resolve_source(m.init_from, "model.init_from")
    if m.base is None and m.init_from == "stage1" and m.chat_template == "model":
        raise ConfigError(
            "model.chat_template='model': the tiny model's trained tokenizer has no template of its own"
        )
    _choice("model.dtype", m.dtype, ("float32", "bfloat16", "float16"))
    _choice("model.attn_implementation", m.attn_implementation, ("sdpa", "eager", "flash_attention_2"))
    if m.attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ConfigError(
            "model.attn_implementation=flash_attention_2 but the flash_attn package is not installed"
        )

    d = cfg.data
    _choice("data.source", d.source, ("synthetic", "hub", "local"))
    if d.source == "local":
        if not d.path:
            raise ConfigError("data.path: required when data.source=local")
        if not Path(d.path).exists():
            raise ConfigError(f"data.path={d.path!r}: file does not exist")
    if d.source == "hub" and not d.hub_id:
        raise ConfigError("data.hub_id: required when data.source=hub")
    _choice("data.truncation", d.truncation, ("keep_end", "keep_start", "drop"))
    _choice("data.batching", d.batching, ("grouped", "random", "token_budget"))
    if d.batching == "token_budget" and not d.max_tokens_per_batch:
        raise ConfigError("data.max_tokens_per_batch: required when data.batching=token_budget")
    _choice("data.builder.verifiers", d.builder.verifiers, ("both", "math_verify", "llama"))
    _positive("data.max_length", d.max_length)

    t = cfg.trainer
    _positive("trainer.micro_batch_size", t.micro_batch_size)
    _positive("trainer.grad_accum_steps", t.grad_accum_steps)
    _positive("trainer.epochs", t.epochs)
    _positive("trainer.save_every", t.save_every)
    _positive("trainer.log_every", t.log_every)
    if not 0 <= t.warmup_ratio <= 1:
        raise ConfigError(f"trainer.warmup_ratio={t.warmup_ratio}: must be in [0, 1]")
    _choice("trainer.precision", t.precision, ("fp32", "bf16"))
    _choice("trainer.device", t.device, ("auto", "cpu", "cuda"))
    _choice("trainer.distributed", t.distributed, ("auto", "ddp", "fsdp"))
    try:
        validate_collapse_config(t.collapse)
    except ValueError as err:
        raise ConfigError(str(err)) from err

    e = cfg.eval
    _choice("eval.engine", e.engine, ("hf", "vllm"))
    if e.engine == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "eval.engine=vllm but vLLM is not installed: pip install 'redi[vllm]' (needs a GPU)"
        )
    _positive("eval.num_samples", e.num_samples)
    if not 0 < e.top_p <= 1:
        raise ConfigError(f"eval.top_p={e.top_p}: must be in (0, 1]")
    _positive("eval.temperature", e.temperature, allow_zero=True)
    _positive("eval.max_new_tokens", e.max_new_tokens)
    _complete_benchmarks(e)
    for name, bench in (e.benchmarks or {}).items():
        _choice(f"eval.benchmarks.{name}.source", bench.source, ("local", "hub", "synthetic"))
        if bench.source == "local":
            if not bench.path:
                raise ConfigError(f"eval.benchmarks.{name}.path: required when source=local")
            if not Path(bench.path).exists():
                raise ConfigError(f"eval.benchmarks.{name}.path={bench.path!r}: file does not exist")
        if bench.source == "synthetic" and d.source != "synthetic":
            raise ConfigError(f"eval.benchmarks.{name}.source=synthetic needs data.source=synthetic")

    _check_benchmark_files(e, d)

    if cfg.logger.wandb_mode is not None:
        _choice("logger.wandb_mode", cfg.logger.wandb_mode, ("online", "offline", "disabled"))
    return spec, hyper


def _complete_benchmarks(e: DictConfig) -> None:
    """Give every eval.benchmarks entry BenchmarkConfig's defaults (the node is untyped to accept new names)."""
    from redi.eval.benchmarks import BenchmarkError, benchmark_config

    try:
        with open_dict(e):
            for name in list(e.benchmarks or {}):
                e.benchmarks[name] = benchmark_config(name, e.benchmarks[name])
    except BenchmarkError as err:
        raise ConfigError(str(err)) from err


def _check_benchmark_files(e: DictConfig, d: DictConfig) -> None:
    """Read and check every local benchmark file now, so a bad row fails before any training."""
    from redi.eval.benchmarks import BenchmarkError, check_benchmarks

    try:
        check_benchmarks(e.benchmarks, synthetic=d.synthetic)
    except BenchmarkError as err:
        raise ConfigError(str(err)) from err


def to_container(cfg: DictConfig) -> dict:
    """The resolved config as plain data (for W&B and hashing)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
