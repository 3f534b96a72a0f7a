"""The floors of docs/architecture.md hold: import-linter's contracts in pyproject.toml (layers, independent
stages, no circles) are all kept, and an import under ``if TYPE_CHECKING:`` or inside a function counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys\nfrom importlinter.cli import lint_imports\nsys.exit(lint_imports(config_filename=sys.argv[1], cache_dir=sys.argv[2], no_logo=True))"


def _lint(config: Path, cache: Path, path: Path) -> tuple[int, str]:
    """import-linter in its own process (in this one it leaves logging set up, and later tests' captured logs
    miss their lines), with ``path`` first on the import path; returns its exit code and output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", LINT, str(config), str(cache)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    return out.returncode, out.stdout + out.stderr


def test_every_import_contract_is_kept(tmp_path):
    code, out = _lint(ROOT / "pyproject.toml", tmp_path, ROOT)  # this checkout's redi, whatever is installed
    assert code == 0, out
    assert "BROKEN" not in out


@pytest.mark.parametrize(
    "upward",
    [
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from floors import high\n",
        "def f():\n    from floors import high\n",
    ],
    ids=["type-only", "in-a-function"],
)
def test_a_hidden_upward_import_breaks_the_layers(tmp_path, upward):
    """The same settings as pyproject.toml's, on a two-floor package whose lower floor imports the upper one."""
    package = tmp_path / "src" / "floors"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("from floors import low\n")
    (package / "low.py").write_text(upward)
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "floors"\nexclude_type_checking_imports = false\n\n'
        '[[tool.importlinter.contracts]]\nname = "two floors"\ntype = "layers"\ncontainers = ["floors"]\n'
        'layers = ["high", "low"]\n'
    )
    code, out = _lint(config, tmp_path / "cache", tmp_path / "src")
    assert code != 0 and "floors.low -> floors.high" in out, out
