"""The ``redi`` console script: its commands, Hydra's tab completion through ``redi run`` and the short --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from redi.cli import completion_line, main

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, comp_line: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"COMP_LINE": comp_line} if comp_line is not None else {})}
    return subprocess.run(
        [sys.executable, "-m", "redi.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_the_subcommand_word_is_dropped_for_hydra():
    assert completion_line("redi run objective=") == "redi objective="
    assert completion_line("redi run ") == "redi "
    assert completion_line("redi sync ") is None  # another command: the shell completes file names


def test_usage_and_unknown_commands(capsys):
    assert main([]) == 2 and "redi run experiment=smoke" in capsys.readouterr().out
    assert main(["train"]) == 2 and "redi: error: unknown command 'train'" in capsys.readouterr().err


def test_tab_completion_installs_for_redi_and_answers_groups_and_options():
    install = cli("run", "-sc", "install=bash")
    assert install.returncode == 0, install.stderr
    assert install.stdout.rstrip().endswith("complete -o nospace -o default -F hydra_bash_completion redi")
    # what bash asks: `redi -sc query=bash` with the line typed so far
    groups = cli("-sc", "query=bash", comp_line="redi run ")
    assert {"objective=", "model=", "experiment=", "trainer="} <= set(groups.stdout.split()), groups.stderr
    options = cli("-sc", "query=bash", comp_line="redi run objective=")
    expected = {f"objective={p.stem}" for p in (REPO / "conf" / "objective").glob("*.yaml")}
    assert set(options.stdout.split()) == expected and "objective=redi" in expected


def test_help_is_short_with_groups_root_keys_and_examples():
    out = cli("run", "--help")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert len(text.splitlines()) < 40
    for needle in (
        "objective: dpo, ",
        "experiment: ",
        "alpha, beta, gamma",
        "redi run experiment=smoke",
    ):
        assert needle in text
    assert 'eval "$(redi run -sc install=bash)"' in text
