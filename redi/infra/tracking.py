"""Metrics to W&B (online, offline or off) and to the run's metrics.jsonl, behind one interface, rank 0 only."""

from __future__ import annotations

import contextlib
import json
import logging
import math
from pathlib import Path
from typing import Any

from redi.infra.status import atomic_write_text

log = logging.getLogger(__name__)


class MetricsFile:
    """Append-only JSON lines, one object per logged step; rewritten to a checkpoint's step on resume.

    A line that is not a JSON object (cut by a kill, or changed by hand) is skipped with a warning naming its
    line number; the rows after it are kept. When the file is rewritten, such lines are moved, as they were, to
    metrics.rejected.jsonl beside it, so nothing is dropped silently.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(_finite(record), sort_keys=True) + "\n")

    def _parse(self) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
        """(valid rows, [(line number, text) of malformed lines])."""
        if not self.path.exists():
            return [], []
        rows, bad = [], []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                if isinstance(row, dict):
                    rows.append(row)
                else:
                    bad.append((lineno, line.rstrip("\n")))
        return rows, bad

    def read(self) -> list[dict[str, Any]]:
        rows, bad = self._parse()
        if bad:
            log.warning("%s: skipped %d malformed line(s) (%s)", self.path, len(bad), _lines(bad))
        return rows

    def truncate_after(self, step: int) -> None:
        """Keep the records with step <= ``step`` (those logged after the checkpoint will be logged again).

        ``step`` = -1 empties the file: a run restarted without a checkpoint logs everything again.
        """
        rows, bad = self._parse()
        kept = [r for r in rows if _step_of(r) <= step]
        if bad:
            rejected = self.path.with_name("metrics.rejected.jsonl")
            with open(rejected, "a") as f:
                f.writelines(text + "\n" for _, text in bad)
            log.warning(
                "%s: %d malformed line(s) (%s) moved to %s; the %d valid rows around them are kept",
                self.path,
                len(bad),
                _lines(bad),
                rejected,
                len(rows),
            )
        if kept == rows and not bad and self.path.exists() and step >= 0:
            return
        atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def _step_of(row: dict[str, Any]) -> float:
    step = row.get("step", 0)
    return step if isinstance(step, int | float) else 0


def _lines(bad: list[tuple[int, str]]) -> str:
    shown = ", ".join(str(n) for n, _ in bad[:5])
    return f"line{'s' if len(bad) > 1 else ''} {shown}" + (" ..." if len(bad) > 5 else "")


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: write them as strings so the file stays valid JSON lines."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


class Tracker:
    """Log metrics and summaries to metrics.jsonl and, unless disabled, W&B; a no-op off rank 0.

    W&B may fail without stopping training: an error at start (no API key, unreachable server) falls back to
    offline, then to off (an unreachable server is given up after WANDB_INIT_TIMEOUT seconds, W&B's default
    90); an error later (its service process gone) turns W&B off for the rest of the run.
    Each fallback is one warning, logged and recorded in status.json's ``warnings``; metrics.jsonl stays complete.
    """

    def __init__(self, run_dir: Path, *, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.metrics = MetricsFile(self.run_dir / "metrics.jsonl")
        self.wandb_run = None
        self.mode = "disabled"
        self.warnings: list[str] = []
        if enabled:
            self.rewind()

    def rewind(self) -> None:
        """Cut metrics.jsonl back to the step of the checkpoint this run will resume from (none: empty it).

        A run (re)starting here logs every later step again, so after any kill (before the first checkpoint,
        during a checkpoint write, after a damaged checkpoint was skipped) the file equals an uninterrupted run's.
        """
        if not self.metrics.path.exists():
            return
        from redi.infra.checkpoint import resume_step

        self.metrics.truncate_after(resume_step(self.run_dir / "checkpoints"))

    def start_wandb(
        self,
        *,
        mode: str,
        project: str,
        entity: str | None,
        group: str | None,
        job_type: str,
        name: str | None,
        tags: list[str],
        config: dict[str, Any],
        run_id: str | None,
    ) -> str | None:
        """Start (or resume, with the same id) the W&B run; returns its id (None when W&B ends up off)."""
        self.mode = mode
        if not self.enabled or mode == "disabled":
            return None
        import wandb

        tried = []
        for attempt in dict.fromkeys([mode, "offline"]):  # online, then offline; offline once
            try:
                self.wandb_run = wandb.init(
                    project=project,
                    entity=entity,
                    group=group,
                    job_type=job_type,
                    name=name,
                    tags=tags,
                    config=config,
                    id=run_id,
                    resume="allow",
                    dir=str(self.run_dir),
                    mode=attempt,
                    # console capture and system metrics on; WANDB_INIT_TIMEOUT applies
                    settings=wandb.Settings(console="wrap", silent=True),
                )
            except Exception as e:  # noqa: BLE001 - any tracker error: fall back, never stop training
                tried.append(f"{attempt}: {type(e).__name__}: {_first_line(e)}")
                continue
            self.mode = attempt
            break
        if tried:
            now_mode = self.mode if self.wandb_run is not None else "off"
            self._warn(f"W&B could not start ({'; '.join(tried)}); W&B is {now_mode} for this run")
        if self.wandb_run is None:
            self.mode = "disabled"
            return None
        for prefix in ("train", "eval"):
            self.wandb_run.define_metric(f"{prefix}/*", step_metric="step")
        return self.wandb_run.id

    def _warn(self, message: str) -> None:
        from redi.infra.status import Status, StatusFileError

        log.warning("%s (metrics.jsonl is complete)", message)
        self.warnings.append(message)
        try:
            Status(self.run_dir).warn(message)
        except (OSError, StatusFileError) as e:
            log.warning("could not record the warning in status.json: %s", e)

    def _wandb_failed(self, what: str, error: Exception, step: int | None = None) -> None:
        """W&B broke mid-run: turn it off for the rest of the run, once, with one warning."""
        run, self.wandb_run, self.mode = self.wandb_run, None, "disabled"
        at = f" at step {step}" if step is not None else ""
        self._warn(
            f"W&B failed{at} ({what}: {type(error).__name__}: {_first_line(error)}); W&B is off for the rest of this run"
        )
        with contextlib.suppress(Exception):
            run.finish(exit_code=1)

    @property
    def wandb_location(self) -> str | None:
        """Where to find the W&B run: its URL online, its directory offline."""
        if self.wandb_run is None:
            return None
        if self.mode == "online":
            return self.wandb_run.url
        return str(Path(self.wandb_run.dir).parent)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        record = {"step": step, **metrics}
        self.metrics.append(record)
        if self.wandb_run is not None:
            try:
                self.wandb_run.log(_finite(record))
            except Exception as e:  # noqa: BLE001
                self._wandb_failed("log", e, step)

    def truncate_after(self, step: int) -> None:
        """On resume: drop what was logged after the checkpoint's step (it will be logged again)."""
        if self.enabled:
            self.metrics.truncate_after(step)

    def log_model(self, model_dir: Path, name: str, when: str = "online") -> bool:
        """Log ``model_dir`` as a W&B model artifact when ``when`` is always, or online and W&B is online."""
        if self.wandb_run is None or when == "never" or (when == "online" and self.mode != "online"):
            return False
        import wandb

        artifact = wandb.Artifact(name, type="model")
        artifact.add_dir(str(model_dir))
        self.wandb_run.log_artifact(artifact, aliases=["final"])
        return True

    def summary(self, values: dict[str, Any]) -> None:
        if self.enabled and self.wandb_run is not None:
            try:
                for k, v in values.items():
                    self.wandb_run.summary[k] = v
            except Exception as e:  # noqa: BLE001
                self._wandb_failed("summary", e)

    def finish(self, exit_code: int = 0) -> None:
        if self.wandb_run is not None:
            run, self.wandb_run = self.wandb_run, None
            try:
                run.finish(exit_code=exit_code)
            except Exception as e:  # noqa: BLE001
                self._warn(
                    f"W&B failed to close the run ({type(e).__name__}: {_first_line(e)}); metrics.jsonl has every row"
                )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else ""
