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
    for needle in ("objective: dpo, ", "experiment: ", "redi run experiment=smoke"):
        assert needle in text
    assert 'eval "$(redi run -sc install=bash)"' in text
    # the groups a user picks from (the option files under conf/), not the schemas' internal entries
    section = text.split("== Config groups (group=option) ==")[1].split("== Root keys ==")[0]
    groups = dict(line.split(": ", 1) for line in section.splitlines() if line.strip())
    assert set(groups) == {p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name != "hydra"}
    assert "base_" not in text and "schema" not in text
    # every root key an objective declares, with its range and its objectives (RPO's nll_weight included)
    roots = {line.split()[0]: line for line in text.split("== Root keys ==")[1].splitlines() if line.strip()}
    assert roots["alpha"].split()[1:4] == ["in", "[0,", "1]"] and roots["alpha"].endswith("used by redi")
    assert roots["nll_weight"].split()[1:3] == [">=", "0"] and roots["nll_weight"].endswith("used by rpo")
    assert roots["beta"].endswith("used by dpo, ipo, nca, rpo, simpo")


def test_help_is_hydras_help_template():
    """The fast --help prints what Hydra renders from conf/hydra/help/redi.yaml (its $$ as $)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import redi.run  # noqa: F401  (registers the schemas and the resolvers)
    from redi.config.help import render

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    template = OmegaConf.to_container(cfg.hydra.help, resolve=True)["template"]
    assert render() == template.replace("$$", "$")


def test_tab_completion_and_help_import_no_torch():
    """What ends before any compute (a TAB, --help) does not load torch: a TAB took 3.4 s when it did."""
    probe = (
        "import os, runpy, sys\n"
        "sys.argv = ['redi', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('redi.run', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('torch loaded:', 'torch' in sys.modules, file=sys.stderr)\n"
    )
    for args, comp_line in ((["-sc", "query=bash"], "redi objective="), (["--help"], None)):
        env = {**os.environ, **({"COMP_LINE": comp_line} if comp_line else {})}
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=300,
        )
        assert "torch loaded: False" in proc.stderr, proc.stderr[-2000:]
        assert ("objective=rpo" if comp_line else "nll_weight") in proc.stdout
