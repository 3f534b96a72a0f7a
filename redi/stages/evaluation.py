"""The stage ``mode=eval``: evaluate ``model.init_from`` (or the stage-1 model) once, no training."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from redi.eval.evaluator import make_evaluator
from redi.infra.run_result import RunResult
from redi.infra.session import Session
from redi.infra.wandb_names import wandb_settings
from redi.inputs.model import starting_point
from redi.objectives import ObjectiveSpec


def run(cfg: DictConfig, spec: ObjectiveSpec, session: Session, stage1: Path | None) -> RunResult:
    """Evaluate the starting model once on rank 0 and record it as the run's final metrics.

    The step is 0, or N for a redi checkpoint ``checkpoints/step_N`` (its eval/step_N.jsonl, "step N" in the summary).
    """
    if not cfg.eval.benchmarks:
        raise ValueError("mode=eval with no benchmarks in eval.benchmarks")
    model, tokenizer, source = starting_point(cfg, spec, session.run_dir, session.env, stage1)
    step = int(Path(source.location).name.split("_")[1]) if source and source.kind == "checkpoint" else 0
    evaluator = make_evaluator(cfg, tokenizer, session.run_dir)
    assert evaluator is not None
    session.start_wandb(cfg.logger, **wandb_settings(cfg, spec, session.run_dir))
    session.status.update(evaluated=str(source) if source else "the model built from scratch")
    metrics = evaluator(model, step, True) if session.env.is_main else {}
    session.tracker.log(metrics, step=step)
    session.tracker.summary(metrics)
    session.end("completed", step=step, final_metrics=metrics)
    return RunResult(session.run_dir, "completed", step, "", {}, metrics, session.status.data.get("wandb"))
