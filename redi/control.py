"""A single run's control, trained beside it, and the run's gain over it on the same problems.

``python -m redi.run`` (a preference objective, ``control=true``) starts its alpha = 0 control as a child
``python -m redi.run <the run's overrides, objective keys replaced by objective=redi alpha=0.0>`` while it trains
itself: the same stage 1 (through the cache: the second to ask waits for the first's build), lr, seeds, data and
batch order, in the control's own run directory (``runs/single/redi_a0.0...``, where a later run with the same
settings finds it finished). Its output goes to ``<run dir>/control.log``. When both have ended, the gain of the
run's final evaluation over the control's, paired by problem (redi.eval.paired), is printed with the summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from redi.infra.run_names import run_name
from redi.sweeps.controls import WAIT, control_overrides

LOG_NAME = "control.log"


@dataclass
class ControlProcess:
    """The control's child process, its run directory and its log."""

    process: subprocess.Popen
    run_dir: Path
    log_path: Path

    @classmethod
    def start(cls, overrides: list[str], runs_dir: Path, groups: list[str], log_dir: Path) -> ControlProcess:
        """Start the control of the run typed with ``overrides`` (``groups``: Hydra's config group names)."""
        args = control_overrides(overrides)
        run_dir = Path(runs_dir).resolve() / "single" / run_name("redi", args, groups)
        log_path = Path(log_dir) / LOG_NAME
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "redi.run", *args, WAIT],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return cls(process, run_dir, log_path)

    def wait(self) -> int:
        """Wait for the control to end; its exit code. Its run directory is then the one its summary names: the
        predicted name's directory may hold a run of another config, and the control ran beside it
        (redi.infra.run_identity)."""
        code = self.process.wait()
        self.run_dir = run_dir_said(self.log_path) or self.run_dir
        return code

    def stop(self) -> None:
        """End the control (the run itself was stopped): SIGTERM checkpoints it, a rerun resumes it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def run_dir_said(log_path: Path) -> Path | None:
    """The run directory the control's summary in ``log_path`` names ("  run directory: ..."), None before it."""
    said = [line for line in _read(log_path).splitlines() if line.startswith("  run directory: ")]
    return Path(said[-1].split(": ", 1)[1].strip()) if said else None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def gain_over_control(run_dir: Path, control_dir: Path) -> str:
    """``synthetic +3.9 ± 0.9 points (...)`` per benchmark: the run's last evaluation minus the control's, paired by
    problem; a sentence saying what is missing when either has no evaluation."""
    from redi.eval.paired import eval_steps, paired_gain, problem_scores

    steps, control_steps = eval_steps(run_dir), eval_steps(control_dir)
    if not steps or not control_steps:
        missing = run_dir if not steps else control_dir
        return f"n/a ({missing} has no per-sample evaluation)"
    after, control = problem_scores(run_dir, steps[-1]), problem_scores(control_dir, control_steps[-1])
    parts = []
    for bench in sorted(set(after.index.get_level_values(0)) & set(control.index.get_level_values(0))):
        g = paired_gain([(after.loc[[bench]], control.loc[[bench]])], varies="")
        low, high = g.interval()
        parts.append(
            f"{bench} {100 * g.gain:+.1f} ± {100 * g.se:.1f} points (paired SE, {g.problems} problems, "
            f"1 replicate; 95% CI {100 * low:+.1f} to {100 * high:+.1f}; control pass@1 "
            f"{control.loc[[bench]].mean():.3f} at step {control_steps[-1]})"
        )
    return ", ".join(parts) or "n/a (no benchmark in common)"


def control_lines(run_dir: Path, control_dir: Path, log_path: Path, code: int) -> list[str]:
    """The summary's lines about the control: where it is, and the run's gain over it (or why there is none)."""
    lines = [f"  control (objective=redi alpha=0, same stage 1, lr, seeds and batches): {control_dir}"]
    if code != 0:
        lines.append(f"  gain over the control: n/a (the control exited {code}; see {log_path})")
    else:
        lines.append(f"  gain over the control (same problems): {gain_over_control(run_dir, control_dir)}")
    return lines


def ended_control_lines(run_dir: Path) -> list[str]:
    """The control lines of a run whose control already ended, from the control's log beside the run (which names
    its run directory) and that directory's status.json; [] when the control has still to run or resume."""
    from redi.infra.status import Status

    log_path = Path(run_dir) / LOG_NAME
    control_dir = run_dir_said(log_path)
    if control_dir is None or not Status(control_dir).finished:
        return []
    return control_lines(Path(run_dir), control_dir, log_path, 0)
