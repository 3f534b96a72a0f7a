"""The floors of docs/architecture.md hold: import-linter's contracts in pyproject.toml (layers, independent
stages, no circles) are all kept, and an import under ``if TYPE_CHECKING:`` or inside a function counts."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(config: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(config), cache_dir=str(cache), no_logo=True)
    return code, capsys.readouterr().out


def test_every_import_contract_is_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))  # this checkout's redi, whatever is installed
    code, out = _lint(ROOT / "pyproject.toml", tmp_path, capsys)
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
def test_a_hidden_upward_import_breaks_the_layers(tmp_path, monkeypatch, capsys, upward):
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
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    code, out = _lint(config, tmp_path / "cache", capsys)
    assert code != 0 and "floors.low -> floors.high" in out, out
