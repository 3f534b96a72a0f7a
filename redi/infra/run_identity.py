"""A run's identity is its composed configuration: what was resolved, not the overrides typed.

The run directory's readable name comes from the overrides (redi.infra.run_names); its identity is the resolved
config without the keys that only say where and how a run reports (``IGNORED``). The directory keeps the config
its run started with in ``.hydra/config.yaml``, written once by redi (conf/config.yaml sets Hydra's
``output_subdir`` to null, so a rerun never writes over it). A rerun whose config resolves the same resumes there;
one whose config differs (a YAML edited in between) gets a directory of its own, ``<name>_c<digest>``, with the
difference said in the log; a run directory given by hand (``hydra.run.dir=...``) that holds another config is
refused, naming the difference. So results are never recorded under another config, and one metrics file never
mixes two.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from redi.infra.status import atomic_write_text

CONFIG_FILE = Path(".hydra") / "config.yaml"
# where and how a run reports, not what it computes (the run-name overrides redi.infra.run_names leaves out)
IGNORED = ("sweep", "logger", "paths", "experiment", "control", "trainer.progress_bar", "eval.progress_bar",
           "trainer.wait_for_lock")  # fmt: skip
DIGEST_CHARS = 8


class RunIdentityError(ValueError):
    """The run directory holds a run of another configuration; the message names the keys that differ."""


def identity(config: DictConfig) -> dict[str, Any]:
    """The resolved config as plain data, without ``hydra`` and the ``IGNORED`` keys."""
    plain: dict[str, Any] = {}
    for key in config:
        if key == "hydra" or key in IGNORED:
            continue
        value = config._get_node(key)
        plain[str(key)] = (
            OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else config[key]
        )
    for dotted in IGNORED:
        parent, _, leaf = dotted.rpartition(".")
        if parent and isinstance(plain.get(parent), dict):
            plain[parent].pop(leaf, None)
    return plain


def digest(plain: dict[str, Any]) -> str:
    """A short, stable hash of ``identity(...)``."""
    text = json.dumps(plain, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def recorded(run_dir: Path) -> dict[str, Any] | None:
    """The identity of the config ``run_dir``'s run started with, or None when it has none recorded."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    return identity(OmegaConf.load(path))


def _flat(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flat(v, f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), node


def differences(old: dict[str, Any], new: dict[str, Any], limit: int = 6) -> str:
    """``key: old -> new`` for the keys whose values differ (the first ``limit``, then how many more)."""
    a, b = dict(_flat(old)), dict(_flat(new))
    missing = "(absent)"
    changed = [f"{k}: {a.get(k, missing)} -> {b.get(k, missing)}" for k in sorted(a.keys() | b.keys())
               if a.get(k, missing) != b.get(k, missing)]  # fmt: skip
    more = f", and {len(changed) - limit} more" if len(changed) > limit else ""
    return ", ".join(changed[:limit]) + more


def _holds_results(run_dir: Path) -> bool:
    """True when ``run_dir`` holds more than what Hydra writes before a run starts (its log)."""
    return run_dir.is_dir() and any(p.name not in (".hydra", "run.log") for p in run_dir.iterdir())


def directory_name(parent: Path, name: str, config: DictConfig) -> str:
    """The directory under ``parent`` for a run of ``config`` whose readable name is ``name``.

    ``name`` itself when it is free or holds a run of this config; else ``<name>_c<digest>``.
    """
    plain = identity(config)
    own = f"{name}_c{digest(plain)}"
    if (Path(parent) / own).is_dir():
        return own
    there = Path(parent) / name
    before = recorded(there)
    if before == plain or (before is None and not _holds_results(there)):
        return name
    return own


def check_directory(run_dir: Path, config: DictConfig) -> str | None:
    """Refuse a run directory that holds a run of another config; returns the note for a ``_c`` directory.

    The note names the readable-name sibling this run stands beside and how their configs differ (None when
    there is nothing to say).
    """
    run_dir = Path(run_dir)
    plain = identity(config)
    before = recorded(run_dir)
    if before is not None and before != plain:
        raise RunIdentityError(
            f"{run_dir} holds a run of another configuration ({differences(before, plain)}); run this one in "
            "another directory, or remove that one to start it over"
        )
    if before is None and _holds_results(run_dir):
        raise RunIdentityError(
            f"{run_dir} holds results but no {CONFIG_FILE} to tell which configuration made them; run this one in "
            "another directory"
        )
    suffix = f"_c{digest(plain)}"
    if not run_dir.name.endswith(suffix):
        return None
    sibling = run_dir.with_name(run_dir.name[: -len(suffix)])
    other = recorded(sibling)
    said = differences(other, plain) if other is not None else "its config is not recorded"
    return f"{sibling} holds a run of another configuration ({said}); this one runs in {run_dir}"


def record_config(run_dir: Path, config_yaml: str, hydra_yaml: str, overrides_yaml: str) -> None:
    """Write .hydra/ (config, hydra, overrides: what Hydra writes) for a run directory that has none yet."""
    hydra_dir = Path(run_dir) / CONFIG_FILE.parent
    if (hydra_dir / CONFIG_FILE.name).exists():
        return
    for name, text in (
        ("hydra.yaml", hydra_yaml),
        ("overrides.yaml", overrides_yaml),
        ("config.yaml", config_yaml),
    ):  # atomically, config.yaml last: the other ranks of a job read it as they name the directory
        atomic_write_text(hydra_dir / name, text)
