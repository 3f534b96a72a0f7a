"""The pre-flight: every group's checks on the composed config, before any heavy import or compute.

Each group's checks live beside its code (redi.loop.checks: trainer and stage1; redi.data.checks: data, builder
and teacher; redi.model.checks: model; redi.eval.checks: eval and grader; redi.sweeps.checks: launcher) and
report into one :class:`~redi.config.checks.Checks` collector, so one run of ``validate`` names every bad key at
once, exactly as the user typed it (``stage1.lr``, not ``lr``). Nothing here imports torch, transformers or
datasets.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from redi.config.checks import Checks, ConfigError, run_check

log = logging.getLogger("redi")


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf that is not an interpolation (those are checked where they point)."""
    if isinstance(node, DictConfig):
        items: Any = ((str(k), k) for k in node)
    elif isinstance(node, ListConfig):
        items = ((f"[{i}]", i) for i in range(len(node)))
    else:
        return
    for label, k in items:
        if OmegaConf.is_interpolation(node, k) or OmegaConf.is_missing(node, k):
            continue
        child = node[k]
        key = f"{prefix}{label}" if label.startswith("[") or not prefix else f"{prefix}.{label}"
        if isinstance(child, DictConfig | ListConfig):
            yield from _leaves(child, key)
        else:
            yield key, child


def check_finite(cfg: DictConfig, c: Checks) -> None:
    """Every number in the config is finite (NaN compares false with every bound, so ranges alone miss it)."""
    for key, value in _leaves(cfg):
        if key.startswith("hydra"):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            c.fail(f"{key}={value}: must be a finite number")


def check_ranges(c: Checks, spec: Any) -> None:
    """Each hyperparameter ``spec`` (an ObjectiveSpec) declares: set, a finite number, inside its declared range."""
    for p in spec.params:
        c.number(p.name, low=p.low, high=p.high, low_open=not p.low_inclusive)


def check_hyperparameters(spec: Any, values: dict[str, Any]) -> None:
    """Raise ObjectiveConfigError naming every hyperparameter of ``spec`` that ``values`` leaves unset or out of
    range, with the pre-flight's own check (:func:`check_ranges`)."""
    from redi.objectives import ObjectiveConfigError

    run_check(check_ranges, values, "", ObjectiveConfigError, spec=spec)


def objective_hyperparameters(cfg: DictConfig, spec: Any, c: Checks | None = None) -> dict[str, Any]:
    """The objective's hyperparameters from the root keys (and its options from ``objective.*``), the keywords of
    its loss; a root key it does not use is an error.

    Errors go to ``c``; without one, they are raised at once (as ConfigError).
    """
    from redi.objectives import root_hyperparameters

    if c is None:
        own = Checks(cfg)
        values = objective_hyperparameters(cfg, spec, own)
        if own.errors:
            raise ConfigError(own.errors)
        return values

    unused = [k for k in root_hyperparameters() if cfg.get(k) is not None and k not in spec.hyperparameters]
    if unused:
        given = ", ".join(f"{k}={cfg.get(k)}" for k in unused)
        uses = ", ".join(spec.hyperparameters) or f"none of {'/'.join(root_hyperparameters())}"
        c.fail(
            f"{given}: objective {spec.name!r} does not use {'this key' if len(unused) == 1 else 'these keys'} "
            f"(it uses {uses}); remove the override"
        )
    values = {k: cfg.get(k) for k in spec.hyperparameters}
    bad = [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:  # non-finite values are reported by check_finite
        check_ranges(c, spec)
    choice = _choice_of(cfg, "objective")
    if choice == "symmetric" and values.get("alpha") != 1.0:
        c.fail(
            f"alpha={values.get('alpha')}: objective=symmetric is REDI with alpha = 1; for another alpha use "
            f"objective=redi alpha={values.get('alpha')}"
        )
    options = c.sub("objective")
    for o in spec.options:
        options.choice(o.name, o.choices)
    chosen = {o.name: options.get(o.name) for o in spec.options}
    return {**{k: float(v) for k, v in values.items() if isinstance(v, int | float)}, **chosen}


def _choice_of(cfg: DictConfig, group: str) -> str | None:
    """Which option of ``group`` was chosen (from Hydra's runtime choices, when Hydra composed the config)."""
    if "hydra" in cfg and cfg.hydra.get("runtime") is not None:
        return cfg.hydra.runtime.choices.get(group)
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group)
    return None


def check_root(cfg: DictConfig, c: Checks) -> None:
    c.number("lr", low=0, low_open=True)
    c.number("seed", low=0, integer=True)
    c.choice("mode", ("train", "eval", "stage1"))


def check_logger(c: Checks) -> None:
    c.choice("wandb_mode", ("online", "offline", "disabled"), optional=True)
    env = os.environ.get("WANDB_MODE")
    if c.get("wandb_mode") is None and env not in (None, "", "online", "offline", "disabled", "dryrun"):
        c.fail(f"WANDB_MODE={env!r} (environment): expected online, offline or disabled")


def validate(cfg: DictConfig) -> tuple[Any, dict[str, float]]:
    """Check the whole config; returns the objective spec and its hyperparameters, or raises ConfigError."""
    from redi.config.unknown_keys import unknown_keys
    from redi.data.checks import check_data
    from redi.eval.checks import check_eval
    from redi.loop.checks import check_stage1, check_trainer, collapse_rule_notes
    from redi.loop.precision import check_precision
    from redi.model.checks import check_model
    from redi.model.kernels import check_kernels
    from redi.objectives import ObjectiveConfigError, get_objective
    from redi.sweeps.checks import check_launcher, launcher_of

    root = Checks(cfg)
    for line in unknown_keys(cfg, launcher_of(cfg)):  # +key=value that no schema declares
        root.fail(line)
    check_finite(cfg, root)
    spec, hyper = None, {}
    try:
        spec = get_objective(cfg.objective.name)
    except ObjectiveConfigError as e:
        root.fail(str(e))
    if spec is not None:
        hyper = objective_hyperparameters(cfg, spec, root)
    check_root(cfg, root)
    wants_init = (spec is None or spec.needs_pairs or cfg.mode == "eval") and cfg.mode != "stage1"
    check_model(root.sub("model"), wants_init=wants_init, max_length=cfg.data.get("max_length"))
    if cfg.model.base is None and cfg.model.init_from == "stage1" and cfg.model.chat_template == "model":
        root.fail(
            "model.chat_template='model': the tiny model's trained tokenizer has no template of its own"
        )
    needs_pairs = spec is not None and spec.needs_pairs and cfg.mode == "train"
    check_data(root.sub("data"), needs_pairs=needs_pairs)
    check_trainer(root.sub("trainer"))
    check_kernels(root)
    check_stage1(root.sub("stage1"))
    check_precision(root, spec)  # weights in bf16 at an lr whose updates round away
    root.guard(lambda: _complete_benchmarks(cfg.eval), ConfigError)
    check_eval(root.sub("eval"), data_source=cfg.data.source)
    check_logger(root.sub("logger"))
    check_launcher(root)
    root.guard(lambda: _check_userdata(cfg, spec), ValueError)  # chat template, LoRA, hub
    if not root.errors:  # reads the local benchmark files: only once the settings themselves are right
        root.guard(lambda: _check_benchmark_files(cfg.eval, cfg.data), ConfigError)
    if root.errors:
        raise ConfigError(list(dict.fromkeys(root.errors)))  # one line per problem, in the order found
    # what the collapse rule cannot see with this evaluation schedule: said, not refused
    for note in collapse_rule_notes(cfg, spec.needs_pairs):
        log.warning("%s", note)
    return spec, hyper


def _check_userdata(cfg: DictConfig, spec: Any) -> None:
    """model.chat_template, model.lora and hub (redi.model.chat_templates, redi.model.lora, redi.infra.publish)."""
    from redi.infra.publish import check_hub
    from redi.model.chat_templates import CHOICES
    from redi.model.lora import check_lora

    if cfg.model.chat_template not in CHOICES:
        raise ValueError(
            f"model.chat_template={cfg.model.chat_template!r}: expected one of {', '.join(CHOICES)}"
        )
    needs_init = spec is None or spec.needs_pairs or cfg.mode == "eval"
    check_lora(cfg, starts_from_weights=needs_init or cfg.model.base is not None)
    check_hub(cfg.hub)


def _complete_benchmarks(e: DictConfig) -> None:
    """Give every eval.benchmarks entry BenchmarkConfig's defaults (the node is untyped to accept new names)."""
    from redi.eval.benchmarks import BenchmarkError, benchmark_config

    try:
        with open_dict(e):
            for name in list(e.benchmarks or {}):
                e.benchmarks[name] = benchmark_config(name, e.benchmarks[name])
    except BenchmarkError as err:
        raise ConfigError([str(err)]) from err


def _check_benchmark_files(e: DictConfig, d: DictConfig) -> None:
    """Read and check every local benchmark file now, so a bad row fails before any training."""
    from redi.eval.benchmarks import BenchmarkError, check_benchmarks

    try:
        check_benchmarks(e.benchmarks, synthetic=d.synthetic)
    except BenchmarkError as err:
        raise ConfigError([str(err)]) from err
