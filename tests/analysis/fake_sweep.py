"""Hand-made run directories (the run directory contract, written without training) for the analysis tests."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

# (directory name, objective, root hyperparameters, lr, collapses at step)
MEMBERS: list[tuple[str, str, dict[str, float], float, int | None]] = [
    ("alpha=0.8,lr=0.0001,objective=redi", "redi", {"alpha": 0.8}, 1e-4, None),
    ("alpha=1.0,lr=0.0001,objective=redi", "redi", {"alpha": 1.0}, 1e-4, 12),
    ("beta=0.1,objective=dpo", "dpo", {"beta": 0.1}, 1e-4, None),
    ("beta=2,gamma=1,objective=simpo", "simpo", {"beta": 2.0, "gamma": 1.0}, 1e-4, None),
]
STEPS = 20
EVAL_EVERY = 5
START_ACC = 0.5


def curves(collapse_at: int | None, seed: int) -> list[dict[str, Any]]:
    """metrics.jsonl rows: training metrics every step, an evaluation at 0 and every EVAL_EVERY steps."""
    rows: list[dict[str, Any]] = []
    acc = START_ACC
    for step in range(STEPS + 1):
        if step > 0:
            fall = 0.0 if collapse_at is None or step < collapse_at - 5 else 0.4 * (step - collapse_at + 5)
            rows.append(
                {
                    "step": step,
                    "train/loss": 1.0 / step,
                    "train/lr": 1e-4,
                    "train/grad_norm": 1.0,
                    "train/update_norm": 0.01 * (1 + fall),
                    "train/logps_chosen_per_token": -0.1 - 0.01 * step - fall,
                    "train/logps_rejected_per_token": -0.5 - 0.02 * step - fall,
                    "train/margin": 0.4,
                    "train/reward_accuracy": 0.9,
                    "train/tokens_per_s": 1000.0 + seed,
                }
            )
        if step % EVAL_EVERY == 0:
            if step > 0:
                acc = acc + 0.05 if collapse_at is None or step < collapse_at else acc - 0.3
            rows.append(
                {
                    "step": step,
                    "eval/synthetic/pass@1": acc,
                    "eval/synthetic/pass@1_sem": 0.02,
                    "eval/synthetic/mean_length": 50.0 + step,
                    "eval/synthetic/truncated_frac": 0.0,
                }
            )
    if collapse_at is not None:  # non-finite values are written as strings by the tracker
        rows.append({"step": STEPS, "train/grad_norm": "inf"})
    return rows


def write_run(
    run_dir: Path,
    objective: str,
    hyper: dict[str, float],
    lr: float,
    collapse_at: int | None,
    seed: int = 42,
    wandb_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    (run_dir / ".hydra").mkdir(parents=True)
    config = {
        "objective": {"name": objective, **{k: f"${{{k}}}" for k in hyper}},
        "alpha": None,
        "beta": None,
        "gamma": None,
        "lr": lr,
        "seed": seed,
        **hyper,
        "sweep": {"name": run_dir.parent.name, "description": ""},
        "data": data or {"builder": {"swap_pairs": False}, "self_generated": {"enabled": False}},
        "trainer": {
            "collapse": {
                "enabled": True,
                "window": 5,
                "logp_drop": 1.0,
                "require_accuracy_drop": True,
                "accuracy_drop": 0.05,
                "stop": False,
            }
        },
    }
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"objective={objective}"]))
    rows = curves(collapse_at, seed)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    status = {
        "state": "collapsed" if collapse_at else "completed",
        "step": STEPS,
        "collapse_step": collapse_at,
        "wandb_run_id": wandb_id,
        "wandb_group": run_dir.parent.name,
        "objective": objective,
    }
    (run_dir / "status.json").write_text(json.dumps(status))


def make_sweep(root: Path, name: str = "fake") -> Path:
    sweep = root / name
    for i, (dirname, objective, hyper, lr, collapse_at) in enumerate(MEMBERS):
        write_run(sweep / dirname, objective, hyper, lr, collapse_at, wandb_id=f"id{i}")
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def finite(value: Any) -> Any:
    return float(value) if isinstance(value, str) else value


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ---------------------------------------------------------------------------------------------------------------
# a sweep with an alpha = 0 control, two seeds and per-problem evaluations (eval/step_N.jsonl), for paired gains

PAIRED_STEPS = (0, 10, 20)
START_SCORES = [0.5, 0.5, 0.5, 0.5]  # 4 problems x 2 samples: a score is 0, 0.5 or 1
# (directory, alpha, lr, seed, per-problem scores at steps 10 and 20); every run starts at START_SCORES
PAIRED_MEMBERS: list[tuple[str, float, float, int, list[list[float]]]] = [
    ("alpha=0.0,lr=0.0001,seed=1", 0.0, 1e-4, 1, [[0.5, 0.5, 0.5, 0.5], [1.0, 0.5, 0.5, 0.5]]),
    ("alpha=0.0,lr=0.0001,seed=2", 0.0, 1e-4, 2, [[0.5, 0.5, 0.5, 0.5], [1.0, 0.5, 0.5, 0.5]]),
    ("alpha=0.8,lr=0.0001,seed=1", 0.8, 1e-4, 1, [[1.0, 1.0, 0.5, 0.5], [1.0, 1.0, 0.5, 0.5]]),
    ("alpha=0.8,lr=0.0001,seed=2", 0.8, 1e-4, 2, [[1.0, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 0.5]]),
    ("alpha=1.0,lr=0.0001,seed=1", 1.0, 1e-4, 1, [[1.0, 1.0, 1.0, 0.5], [0.0, 0.0, 0.5, 0.0]]),
    ("alpha=0.8,lr=2e-05,seed=1", 0.8, 2e-5, 1, [[0.5, 0.5, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0]]),
]


def eval_rows(step: int, scores: list[float]) -> list[dict[str, Any]]:
    """eval/step_N.jsonl lines: 2 samples per problem, the first ``round(2 * score)`` of them correct."""
    rows = []
    for p, score in enumerate(scores):
        for j in range(2):
            rows.append(
                {"step": step, "benchmark": "synthetic", "prompt_id": f"p{p}", "sample_index": j,
                 "gold": "1", "text": "", "extracted": "1", "correct": j < round(2 * score),
                 "timed_out": False, "num_tokens": 10, "finish_reason": "stop"}
            )  # fmt: skip
    return rows


def make_paired_sweep(
    root: Path,
    name: str = "paired",
    members: list[tuple[str, float, float, int, list[list[float]]]] | None = None,
    swapped: tuple[str, ...] = (),
) -> Path:
    """REDI runs whose metrics.jsonl and eval files agree: pass@1 at each step = the mean of the problem scores.

    ``swapped``: directories whose runs trained on label-inverted pairs (data.builder.swap_pairs=true).
    """
    sweep = root / name
    for dirname, alpha, lr, seed, later in PAIRED_MEMBERS if members is None else members:
        run_dir = sweep / dirname
        data = {"builder": {"swap_pairs": dirname in swapped}, "self_generated": {"enabled": False}}
        write_run(run_dir, "redi", {"alpha": alpha}, lr, None, seed=seed, data=data)
        by_step = dict(zip(PAIRED_STEPS, [START_SCORES, *later], strict=True))
        lines = []
        for step in range(1, PAIRED_STEPS[-1] + 1):
            lines.append({"step": step, "train/logps_chosen_per_token": -0.1, "train/logps_rejected_per_token": -0.5,
                          "train/grad_norm": 1.0 + alpha, "train/update_norm": 0.01})  # fmt: skip
        for step, scores in by_step.items():
            lines.append({"step": step, "eval/synthetic/pass@1": sum(scores) / len(scores),
                          "eval/synthetic/pass@1_sem": 0.0})  # fmt: skip
            rows = eval_rows(step, scores)
            (run_dir / "eval").mkdir(exist_ok=True)
            (run_dir / "eval" / f"step_{step}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return sweep
