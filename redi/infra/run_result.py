"""How a run ended, as the entry point prints it and a sweep records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from redi.infra.status import Status


@dataclass
class RunResult:
    run_dir: Path
    state: str
    step: int = 0
    reason: str = ""
    start_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    wandb: str | None = None
    seconds: float = 0.0
    skipped: bool = False

    @classmethod
    def recorded(cls, status: Status, run_dir: Path, skipped: bool = False) -> RunResult:
        """The result as status.json records it (a run that ended earlier is not run again)."""
        d = status.data
        return cls(
            Path(run_dir),
            status.state,
            d.get("step", 0),
            d.get("reason", ""),
            d.get("start_metrics", {}),
            d.get("final_metrics", {}),
            d.get("wandb"),
            skipped=skipped,
        )
