"""The pre-flight's vocabulary: :class:`Checks` (one collector of errors naming keys as typed), :class:`ConfigError`
and :func:`plain` (a config node as plain data). Every group's checks (``<floor>/checks.py``) report into one
Checks; redi.validate runs them all. Imports OmegaConf only, so every floor can use it without a heavy import.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A configuration that cannot run; names every offending key and value (``errors``: one line each)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        if len(self.errors) == 1:
            text = self.errors[0]
        else:
            text = f"{len(self.errors)} problems in the config:\n" + "\n".join(
                f"  - {e}" for e in self.errors
            )
        super().__init__(text)


class Checks:
    """Collects errors about one config node; ``key(name)`` is the full dotted key as the user types it."""

    def __init__(self, node: Any, prefix: str = "", errors: list[str] | None = None) -> None:
        self.node = node
        self.prefix = prefix
        self.errors: list[str] = [] if errors is None else errors
        self._bad: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def sub(self, name: str) -> Checks:
        return Checks(self.get(name), self.key(name), self.errors)

    def get(self, name: str) -> Any:
        node = self.node
        return node.get(name) if isinstance(node, dict | DictConfig) else getattr(node, name, None)

    def fail(self, text: str) -> None:
        """Record an error whose text names its keys itself."""
        self.errors.append(text)

    def error(self, name: str, message: str) -> None:
        """Record ``<key>=<value>: <message>``."""
        self._bad.add(name)
        self.errors.append(f"{self.key(name)}={self.get(name)!r}: {message}")

    def ok(self, *names: str) -> bool:
        """None of ``names`` has an error recorded here (so checks that combine them can run)."""
        return not self._bad.intersection(names)

    def guard(self, check: Callable[[], Any], *errors: type[Exception]) -> None:
        """Run a check that raises one of ``errors`` with a full message; record the message instead."""
        try:
            check()
        except errors as e:
            self.fail(str(e))

    def choice(self, name: str, allowed: tuple[str, ...], optional: bool = False) -> None:
        value = self.get(name)
        if (value is None and optional) or value in allowed:
            return
        self.error(name, f"expected one of {', '.join(allowed)}")

    def number(
        self,
        name: str,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        integer: bool = False,
        optional: bool = False,
        hint: str = "",
    ) -> None:
        """A finite number (an integer when ``integer``) in [low, high] (open ends with ``*_open``)."""
        value = self.get(name)
        hint = f" ({hint})" if hint else ""
        if value is None:
            if not optional:
                self.error(name, "required")
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(name, f"must be a number{hint}")
            return
        if not math.isfinite(value):
            self.error(name, f"must be a finite number{hint}")
            return
        if integer and value != int(value):
            self.error(name, f"must be a whole number{hint}")
        elif low is not None and (value < low or (low_open and value == low)):
            self.error(name, f"must be {'>' if low_open else '>='} {low:g}{hint}")
        elif high is not None and (value > high or (high_open and value == high)):
            self.error(name, f"must be {'<' if high_open else '<='} {high:g}{hint}")


def run_check(
    check: Callable[..., None], node: Any, prefix: str, error: type[Exception] = ConfigError, **kwargs: Any
) -> None:
    """Run a group's pre-flight ``check`` on ``node`` (a config node or a dataclass) at run time, so a rule is
    written once: raises ``error`` naming every bad key as the pre-flight does (ConfigError: one line each)."""
    c = Checks(node, prefix)
    check(c, **kwargs)
    if c.errors:
        raise ConfigError(c.errors) if error is ConfigError else error("; ".join(c.errors))


def plain(node: Any) -> Any:
    """A config node as plain, JSON-able data: an OmegaConf node resolved, a dataclass as a dict, else as given."""
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.asdict(node)
    return node
