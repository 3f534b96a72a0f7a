"""Keys nothing reads: what ``+key=value`` added to a schema that has no such field.

Hydra refuses a misspelled key (``trainer.max_step=5``) but adds one typed with ``+`` (its own hint for that error
is to add the ``+``), and the run would then go on with the setting ignored. Every node of the composed config whose
type is a dataclass schema may hold only that schema's fields; the nodes typed as plain dicts (``data.column_map``,
``eval.benchmarks``, the launcher's ``additional_parameters``) take any key. Each unknown key is named with the
nearest real key. Torch-free (the pre-flight, redi.validate).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf


def _schema_fields(node: DictConfig) -> set[str] | None:
    """The field names of the dataclass ``node`` is typed as, or None for a plain dict node (any key goes)."""
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        return None
    return {f.name for f in dataclasses.fields(schema)}


def _walk(node: DictConfig, prefix: str, known: bool = True) -> Iterator[tuple[str, bool]]:
    """(dotted key, known) for every key under ``node``; known is False where the node's schema has no such field
    (for a whole unknown subtree, ``+foo.bar=1``, each of its leaves)."""
    fields = _schema_fields(node) if known else None
    for key in node:
        name = f"{prefix}{key}"
        if not prefix and key == "hydra":  # Hydra's own node (present when a test composes it in)
            continue
        own = known and (fields is None or key in fields)
        child = None if OmegaConf.is_interpolation(node, key) else node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none() and len(child):
            if own:
                yield name, True
            yield from _walk(child, f"{name}.", own)
        else:
            yield name, own


def unknown_keys(cfg: DictConfig, launcher: DictConfig | None = None) -> list[str]:
    """One error line per key no schema declares, naming the value and the nearest real key.

    ``cfg``: the composed run config (without ``hydra``); ``launcher``: ``hydra.launcher`` (its keys are named
    ``hydra.launcher.*``), when there is one.
    """
    trees: list[tuple[DictConfig, str]] = [(cfg, "")]
    if launcher is not None:
        trees.append((launcher, "hydra.launcher."))
    errors = []
    for tree, prefix in trees:
        keys = list(_walk(tree, prefix))
        known = [k for k, ok in keys if ok]
        for key, ok in keys:
            if ok:
                continue
            value = OmegaConf.select(tree, key[len(prefix) :], throw_on_resolution_failure=False)
            errors.append(f"{key}={_show(value)}: {_no_such_key(key, known)}")
    return errors


def _show(value: Any) -> str:
    if OmegaConf.is_config(value):
        return str(OmegaConf.to_container(value, resolve=False))
    return str(value)


def _no_such_key(key: str, known: list[str]) -> str:
    """ "no such key" and the nearest declared one (by the whole dotted key, then by its last part)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        last = key.rsplit(".", 1)[-1]
        by_last = {k.rsplit(".", 1)[-1]: k for k in known}
        close = [by_last[m] for m in difflib.get_close_matches(last, list(by_last), n=1, cutoff=0.75)]
    hint = f"did you mean {close[0]}?" if close else "redi run --cfg job lists every key"
    return f"no such key, so nothing would read it ({hint})"
