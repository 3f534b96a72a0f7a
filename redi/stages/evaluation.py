"""Evaluation: the evaluator the loop calls, and the stage ``mode=eval`` (evaluate ``model.init_from``, no training)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig

from redi.infra.progress import phase
from redi.infra.session import Session
from redi.model import save_model
from redi.objectives import ObjectiveSpec
from redi.stages.inputs import starting_point
from redi.stages.result import RunResult
from redi.stages.tracking import start_tracking

Evaluator = Callable[[torch.nn.Module, int, bool], dict[str, float]]  # (model, step, final) -> eval/* metrics


def make_evaluator(cfg: DictConfig, tokenizer, run_dir: Path) -> Evaluator | None:
    """``evaluate(model, step, final) -> eval/* metrics`` on the configured benchmarks, or None when there are none.

    ``final`` is False for the curve points during training (``eval.curve_limit`` problems per benchmark).
    """
    if not cfg.eval.benchmarks:
        return None
    from redi.eval.evaluate import evaluate

    def _evaluate(model: torch.nn.Module, step: int, final: bool = True) -> dict[str, float]:
        model_path = None
        if cfg.eval.engine == "vllm":  # vLLM loads weights from disk: hand it the current ones
            model_path = str(run_dir / "eval_model")
            save_model(model, tokenizer, Path(model_path))
        with phase(f"evaluation at step {step}"):
            return evaluate(
                model,
                tokenizer,
                cfg.eval,
                step,
                run_dir,
                synthetic=cfg.data.synthetic,
                model_path=model_path,
                final=final,
            )

    return _evaluate


def run(cfg: DictConfig, spec: ObjectiveSpec, session: Session, stage1: Path | None) -> RunResult:
    """Evaluate the starting model once (step 0) on rank 0 and record it as the run's final metrics."""
    if not cfg.eval.benchmarks:
        raise ValueError("mode=eval with no benchmarks in eval.benchmarks")
    model, tokenizer, _ = starting_point(cfg, spec, session.run_dir, session.env, stage1)
    evaluator = make_evaluator(cfg, tokenizer, session.run_dir)
    assert evaluator is not None
    start_tracking(cfg, spec, session)
    metrics = evaluator(model, 0, True) if session.env.is_main else {}
    session.tracker.log(metrics, step=0)
    session.tracker.summary(metrics)
    session.end("completed", step=0, final_metrics=metrics)
    return RunResult(session.run_dir, "completed", 0, "", {}, metrics, session.status.data.get("wandb"))
