"""The evaluator the training loop calls: ``evaluate(model, step, final) -> eval/* metrics`` on the configured
benchmarks (built here so the stages that train and the stage that only evaluates share it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig

from redi.infra.progress import phase
from redi.model.load import save_model

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
