"""``mode=eval`` on a redi run (its directory or one of its checkpoints) evaluates as that run evaluated.

The run's own evaluation settings replace the composed defaults for every key not typed on the command line:
``eval.*`` (benchmarks, samples, lengths, batch size), ``data.synthetic.*`` (which held-out problems the synthetic
benchmark holds) and ``trainer.threads``. Typing a key (``eval.num_samples=1``) or a group (``eval=paper_local``)
keeps what was typed. Torch-free: it runs before the pre-flight, which then checks the settings taken.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from redi.model.resolve import source_run

TAKEN = ("eval", "data.synthetic", "trainer.threads")
WHOLE = ("eval.benchmarks",)  # taken as one value: the run's set of benchmarks, not a merge with the defaults


def _typed(overrides: Sequence[str]) -> set[str]:
    """The keys typed on the command line (``+eval.x=1`` -> ``eval.x``; ``eval=paper_local`` -> ``eval``)."""
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides}


def _covered(key: str, typed: set[str]) -> bool:
    """True when ``key`` or a node above it, or a key below it, was typed."""
    return any(key == t or key.startswith(t + ".") or t.startswith(key + ".") for t in typed)


def _leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of the plain ``node``; lists and the WHOLE keys are single values."""
    if isinstance(node, dict) and prefix not in WHOLE:
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}.{k}")
    else:
        yield prefix, node


def adopt_run_eval_settings(cfg: DictConfig, overrides: Sequence[str]) -> tuple[Path | None, list[str]]:
    """With ``mode=eval`` on a redi run: set its evaluation settings in ``cfg`` (see the module doc).

    Returns (the run directory or None, ``key=value`` for every value that changed).
    """
    if cfg.get("mode") != "eval":
        return None, []
    run_dir = source_run(OmegaConf.select(cfg, "model.init_from"))
    if run_dir is None:
        return None, []
    try:
        run_cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    except (OSError, ValueError) as e:
        raise ValueError(f"model.init_from: cannot read {run_dir / '.hydra' / 'config.yaml'}: {e}") from e
    typed = _typed(overrides)
    changed = []
    for root in TAKEN:
        node = OmegaConf.select(run_cfg, root)
        if node is None:
            continue
        plain = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        for key, value in _leaves(plain, root):
            if _covered(key, typed) or OmegaConf.select(cfg, key, default=None) == value:
                continue
            with open_dict(cfg):
                OmegaConf.update(cfg, key, value, merge=False, force_add=True)
            changed.append(f"{key}={value}")
    return run_dir, changed
