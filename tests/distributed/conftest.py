"""Runs of the smoke experiment in one process and under torchrun, made once per session and shared by the tests."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.distributed.helpers import launch


@dataclass
class Runs:
    """Named runs in one directory, all using one cache (the stage-1 model is built once, by the first)."""

    root: Path
    cache: Path
    done: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)

    def get(self, name: str, overrides: Sequence[str], nproc: int = 1) -> Path:
        """The run directory of run ``name``, launching it the first time it is asked for."""
        run_dir = self.root / name
        if name not in self.done:
            self.done[name] = launch(overrides, run_dir, self.cache, nproc=nproc)
        return run_dir

    def output(self, name: str) -> str:
        proc = self.done[name]
        return proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("distributed")
    return Runs(root=root, cache=root / "cache")
