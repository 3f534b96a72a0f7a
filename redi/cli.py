"""The ``redi`` console script: one command for the harness's entry points.

    redi run [overrides]          train and evaluate (``python -m redi.run``; Hydra: --help, -m, --cfg, -sc)
    redi analyze SWEEP_DIR        figures and tables of a sweep (``python -m redi.analysis``)
    redi data-stats [options]     statistics of the synthetic teacher (``python -m redi.data.stats``)
    redi sync PATH...             upload offline W&B runs under PATH, stage-1 runs included (``redi sync -h``)

Hydra's tab completion works on ``redi run``: ``eval "$(redi run -sc install=bash)"``. Bash then asks
``redi -sc query=bash`` with the whole line in COMP_LINE; this module drops the ``run`` word from it so Hydra
completes the overrides that follow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USAGE = """usage: redi COMMAND [ARGS]

commands:
  run [overrides]      train and evaluate one configuration, or sweep with -m   (redi run --help)
  analyze SWEEP_DIR    figures and tables of a sweep                           (redi analyze -h)
  data-stats           statistics of the synthetic teacher's data              (redi data-stats -h)
  sync PATH...         upload the offline W&B runs under PATH, stage 1 included (redi sync -h)

examples:
  redi run experiment=smoke                      # the whole pipeline in seconds
  redi run -m objective=redi alpha=0.2,0.5,0.8   # a sweep: three runs, one W&B group
  redi sync runs/sweeps/cpu_ablation             # upload a sweep's offline W&B runs

tab completion (bash):  eval "$(redi run -sc install=bash)"
"""


def _run(argv: list[str]) -> int | str | None:
    import runpy

    sys.argv = ["redi", *argv]  # Hydra reads sys.argv; argv[0] "redi" names the app in completion and help
    runpy.run_module("redi.run", run_name="__main__")  # exactly python -m redi.run
    return 0


def _analyze(argv: list[str]) -> int | str | None:
    from redi.analysis.__main__ import main

    return main(argv)


def _data_stats(argv: list[str]) -> int | str | None:
    from redi.data.stats import main

    main(argv)
    return 0


def _sync(argv: list[str]) -> int | str | None:
    from redi.infra.wandb_sync import main

    return main(argv)


COMMANDS: dict[str, Callable[[list[str]], int | str | None]] = {
    "run": _run,
    "analyze": _analyze,
    "data-stats": _data_stats,
    "sync": _sync,
}


def completion_line(line: str) -> str | None:
    """COMP_LINE for Hydra without the subcommand (``redi run alpha=`` -> ``redi alpha=``); None when not ``run``."""
    words = line.split(" ")
    if len(words) < 2:
        return line
    if words[1] != "run":
        return None if words[1] in COMMANDS or len(words) > 2 else line
    return " ".join([words[0], *words[2:]])


def main(argv: list[str] | None = None) -> int | str | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-sc", "--shell-completion") or any(a.startswith("query=") for a in argv[:2]):
        line = completion_line(os.environ.get("COMP_LINE", "redi "))
        if line is None:  # completing another command's arguments: let the shell complete file names
            return 0
        os.environ["COMP_LINE"] = line
        return _run(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(
            f"redi: error: unknown command {argv[0]!r}; expected one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
