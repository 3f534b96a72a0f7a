"""``redi run --help``: the config groups a user picks from and the root keys the objectives declare.

The text is conf/hydra/help/redi.yaml's template; its ``${redi_help:groups}`` and ``${redi_help:root_keys}`` are
filled here: the groups from the option files under conf/ (so the schemas' internal ``base_*`` and
``schema/objective`` entries of Hydra's ConfigStore are not offered), the root keys from the objectives'
declarations (a new objective's key, e.g. RPO's ``nll_weight``, appears with no edit here).
:func:`render` builds the same text without Hydra composing the config (Hydra's own help lists every group
option through a fresh config repository per group: seconds of CPU for a page of text).
"""

from __future__ import annotations

import string
from pathlib import Path

from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
HELP_FILE = CONF_DIR / "hydra" / "help" / "redi.yaml"


def config_groups(conf_dir: Path = CONF_DIR) -> str:
    """One line per config group under ``conf_dir``: ``group: option, option, ...`` (Hydra's own groups left out)."""
    lines = []
    for group in sorted(p for p in conf_dir.iterdir() if p.is_dir() and p.name != "hydra"):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        if options:
            lines.append(f"{group.name}: {', '.join(options)}")
    return "\n".join(lines)


def _bound(low: float | None, high: float | None, low_inclusive: bool) -> str:
    if low is not None and high is not None:
        return f"in {'[' if low_inclusive else '('}{low:g}, {high:g}]"
    if low is not None:
        return f"{'>=' if low_inclusive else '>'} {low:g}"
    return f"<= {high:g}" if high is not None else "any number"


def root_keys() -> str:
    """One line per objective hyperparameter: the key, its range and the objectives that read it."""
    from redi.objectives import OBJECTIVES, root_hyperparameters

    lines = []
    for key in root_hyperparameters():
        ranges, users = [], []
        for spec in OBJECTIVES.values():
            for p in spec.params:
                if p.name == key:
                    users.append(spec.name)
                    if (bound := _bound(p.low, p.high, p.low_inclusive)) not in ranges:
                        ranges.append(bound)
        lines.append(f"{key:<20} {' or '.join(ranges):<10} used by {', '.join(sorted(users))}")
    return "\n".join(lines)


_SECTIONS = {"groups": config_groups, "root_keys": root_keys}


def _resolve(section: str) -> str:
    if section not in _SECTIONS:
        raise ValueError(f"redi_help: unknown section {section!r}; expected one of {', '.join(_SECTIONS)}")
    return _SECTIONS[section]()


def register_help_resolver() -> None:
    """``${redi_help:groups}`` and ``${redi_help:root_keys}`` in the help template."""
    OmegaConf.register_new_resolver("redi_help", _resolve, replace=True)


def render(help_file: Path = HELP_FILE) -> str:
    """The help text as Hydra prints it for ``--help`` (its template resolved, ``$$`` written as ``$``)."""
    register_help_resolver()
    cfg = OmegaConf.create({"hydra": {"help": OmegaConf.load(help_file)}})
    return string.Template(str(cfg.hydra.help.template)).safe_substitute()
