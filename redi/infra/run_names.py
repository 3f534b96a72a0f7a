"""Run directory names a person can type: the objective and the overrides that read well, a hash for the rest.

``python -m redi.run alpha=0.8 lr=2e-5`` runs in ``runs/single/redi_a0.8_lr2e-5``; overrides that do not read well
(dotted keys, paths) become one stable hash, ``redi_smoke_h3f9a2c1``. The same overrides in any order give the same
name, so a rerun resumes or finds its run finished. ``runs/index.tsv`` maps every name to its full overrides.
A config that validation rejects leaves no directory behind (:func:`open_run_directory`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from omegaconf import OmegaConf

# root keys written as a short prefix and the value: alpha=0.8 -> a0.8
ABBREVIATIONS = {"alpha": "a", "beta": "b", "gamma": "g", "lr": "lr", "seed": "s", "mode": ""}
# overrides that do not change what a run computes (where it logs, how it shows progress): not in the name
EXCLUDED = frozenset(
    {
        "sweep",
        "sweep.name",
        "hydra.launcher",
        "hydra/launcher",
        "logger",
        "logger.wandb_mode",
        "logger.name",
        "logger.group",
        "paths.runs_dir",
        "paths.cache_dir",
        "trainer.progress_bar",
        "eval.progress_bar",
        "trainer.wait_for_lock",
        "control",
    }
)
_READABLE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+\-]*$")
_READABLE_LIST = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9.+\-]*(,[A-Za-z0-9][A-Za-z0-9.+\-]*)*$"
)  # a sweep's 0.2,0.8
MAX_READABLE = 80  # characters of readable tokens; what does not fit goes into the hash
T = TypeVar("T")
INDEX_NAME = "index.tsv"
INDEX_COLUMNS = ("name", "path", "overrides", "created")
_KEPT_IN_FRESH_DIR = {
    ".hydra",
    "run.log",
}  # what Hydra itself writes into a run directory before the run starts


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _tokens(
    overrides: Sequence[str], groups: Sequence[str], readable_value: re.Pattern[str]
) -> tuple[list[str], list[str], list[str]]:
    """(group choices, root-key tokens, overrides to hash) of ``overrides``, sorted by key."""
    readable_groups: list[str] = []
    readable: list[str] = []
    hashed: list[str] = []
    for override in sorted(overrides, key=lambda o: (_split(o)[0], o)):
        key, value = _split(override)
        if key in EXCLUDED:
            continue
        if override.startswith(("+", "~")) or not readable_value.match(value):
            hashed.append(override)
        elif key in ABBREVIATIONS:
            readable.append(f"{ABBREVIATIONS[key]}{value}")
        elif key in groups:
            readable_groups.append(value)
        else:
            hashed.append(override)
    return readable_groups, readable, hashed


def _join(prefix: str, tokens: list[str], hashed: list[str], overrides: Sequence[str]) -> str:
    name = prefix
    for token in tokens:
        if len(name) + len(token) + 1 > MAX_READABLE:
            hashed.extend(
                o for o in overrides if o not in hashed
            )  # the hash covers everything when cut short
            break
        name += f"_{token}"
    if hashed:
        digest = hashlib.sha256("\n".join(sorted(set(hashed))).encode()).hexdigest()[:8]
        name += f"_h{digest}"
    return name


def run_name(objective: str, overrides: Sequence[str], groups: Sequence[str] = ()) -> str:
    """``<objective>[_<token>...][_h<hash>]`` for one run's command-line overrides.

    objective: the objective group's choice (redi, symmetric, dpo, ...); ``groups``: the config group names, whose
    choices read as their option name (experiment=smoke -> smoke). Root hyperparameters read as a0.8, lr2e-5.
    Everything else is hashed (sha256 of the sorted overrides it covers), so two different configs never share a
    name, and the hash only appears when such overrides exist.
    """
    overrides = [o for o in overrides if o.startswith(("+", "~")) or _split(o)[0] != "objective"]
    readable_groups, readable, hashed = _tokens(overrides, groups, _READABLE_VALUE)
    return _join(objective, readable_groups + readable, hashed, overrides)


def sweep_name(arguments: Sequence[str], groups: Sequence[str] = ()) -> str:
    """``sweep[_<token>...][_h<hash>]`` for a sweep's command line, read as run names are, value lists included.

    ``-m experiment=smoke alpha=0.2,8`` -> ``sweep_smoke_a0.2+8``: the name of a sweep run without ``sweep.name``,
    so rerunning the same command (in any order) finds the same sweep directory and resumes its members.
    """
    readable_groups, readable, hashed = _tokens(arguments, [*groups, "objective"], _READABLE_LIST)
    tokens = [
        t.replace(",", "+") for t in readable_groups + readable
    ]  # a name Hydra and the shell take as is
    return _join("sweep", tokens, hashed, list(arguments))


def _resolver(objective: str, overrides, choices, parent: str | None = None, *, _root_) -> str:
    """The ``redi_run_name`` resolver: ``${redi_run_name:${hydra.runtime.choices.objective},...,<parent dir>}``.

    With ``parent`` (the directory the run goes into), a name whose directory holds a run of another configuration
    becomes ``<name>_c<digest>`` (redi.infra.run_identity): the config resolved, not the overrides, is the run.
    """
    items = list(overrides) if overrides is not None else []
    groups = [g for g in (choices or {}) if "/" not in str(g)]
    name = run_name(str(objective), [str(o) for o in items], groups)
    if parent is None:
        return name
    from redi.infra.run_identity import directory_name

    return directory_name(Path(str(parent)), name, _root_)


def register_resolver() -> None:
    OmegaConf.register_new_resolver("redi_run_name", _resolver, replace=True)


# ---------------------------------------------------------------------------------------------------------------
# the index


def index_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / INDEX_NAME


def read_index(runs_dir: Path) -> list[dict[str, str]]:
    """The rows of ``runs/index.tsv`` (name, path relative to runs/, overrides, created), oldest first."""
    path = index_path(runs_dir)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def record_run(run_dir: Path, runs_dir: Path, overrides: Sequence[str]) -> bool:
    """Add ``run_dir`` to the index once (False when it is there already or lies outside ``runs_dir``)."""
    run_dir, runs_dir = Path(run_dir).resolve(), Path(runs_dir).resolve()
    try:
        relative = str(run_dir.relative_to(runs_dir))
    except ValueError:
        return False
    if any(row["path"] == relative for row in read_index(runs_dir)):
        return False
    path = index_path(runs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    line = "\t".join([run_dir.name, relative, " ".join(overrides), time.strftime("%Y-%m-%dT%H:%M:%S")])
    with open(path, "a") as f:  # one short append per run: atomic enough for members starting together
        f.write(("\t".join(INDEX_COLUMNS) + "\n" if new else "") + line.replace("\n", " ") + "\n")
    return True


# ---------------------------------------------------------------------------------------------------------------
# a rejected config leaves nothing behind


def is_fresh(run_dir: Path) -> bool:
    """True when ``run_dir`` holds only what Hydra wrote for this start (no status, metrics or checkpoints)."""
    run_dir = Path(run_dir)
    return run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= _KEPT_IN_FRESH_DIR


def discard_fresh(run_dir: Path, stop_at: Path) -> bool:
    """Remove a fresh ``run_dir`` and the parents it leaves empty, up to and including ``stop_at``."""
    run_dir, stop_at = Path(run_dir).resolve(), Path(stop_at).resolve()
    if not is_fresh(run_dir):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    while parent != parent.parent and (parent == stop_at or stop_at in parent.parents):
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty
        if parent == stop_at:
            break
        parent = parent.parent
    return True


def open_run_directory(
    run_dir: Path,
    runs_dir: Path,
    overrides: Sequence[str],
    check: Callable[[], T],
    rejected: tuple[type[BaseException], ...],
) -> T:
    """Validate the run's config with ``check`` before anything stays on disk, then index the run directory.

    Hydra creates the directory (.hydra/, run.log) before the run can validate its config; when ``check`` raises
    one of ``rejected`` and the directory is still fresh it is removed again, so a typo leaves nothing behind.
    """
    try:
        checked = check()
    except rejected:
        discard_fresh(run_dir, runs_dir)
        raise
    record_run(run_dir, runs_dir, overrides)
    return checked
