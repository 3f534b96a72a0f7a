"""Evaluation as the paper does it: k samples per problem, last-\\boxed{} answer, Math-Verify, pass@1 with SEM.

:func:`evaluate` is what the training loop calls every N steps and at the end; ``python -m redi.run mode=eval
model.init_from=<run dir | model dir | hub id>`` calls it once to evaluate a model on its own.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from redi.config import EvalConfig
from redi.config.checks import run_check
from redi.eval.benchmarks import Problem, load_benchmark
from redi.eval.checks import check_eval_settings
from redi.eval.metrics import benchmark_metrics, curve_prefix
from redi.eval.prompts import resolve_prompt_template
from redi.grading.grader import Grader, Verdict
from redi.model.engines import Generation, chat_prompts, make_engine

log = logging.getLogger(__name__)


def validate_eval_config(cfg: EvalConfig) -> None:
    """Raise naming the key and value of any eval setting that cannot work, before anything is loaded.

    The settings are checked by the pre-flight's own check (redi.eval.checks); the benchmarks must not be empty
    here (evaluating nothing is an error once evaluation is asked for).
    """
    if not cfg.benchmarks:
        raise ValueError("eval.benchmarks is empty: choose an eval option (e.g. eval=synthetic) or add one")
    run_check(check_eval_settings, cfg, "eval", ValueError)
    for k in cfg.pass_at_k:
        if not 1 <= k <= cfg.num_samples:
            raise ValueError(f"eval.pass_at_k: {k} is outside 1..num_samples ({cfg.num_samples})")


def format_prompts(tokenizer: Any, problems: list[Problem], template: str) -> list[str]:
    """The chat-formatted generation prompts of benchmark problems (redi.model.engines.chat_prompts)."""
    return chat_prompts(tokenizer, [p.problem for p in problems], template)


def _records(
    name: str, step: int, problems: list[Problem], gens: list[list[Generation]], verdicts: list[Verdict]
) -> list[dict[str, Any]]:
    rows = []
    flat = iter(verdicts)
    for problem, samples in zip(problems, gens, strict=True):
        for j, gen in enumerate(samples):
            v = next(flat)
            rows.append(
                {
                    "step": step,
                    "benchmark": name,
                    "prompt_id": problem.id,
                    "sample_index": j,
                    "gold": problem.answer,
                    "text": gen.text,
                    "extracted": v.extracted,
                    "correct": v.correct,
                    "timed_out": v.timed_out,
                    "num_tokens": gen.num_tokens,
                    "finish_reason": gen.finish_reason,
                }
            )
    return rows


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as JSON lines to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def evaluate(
    model: Any,
    tokenizer: Any,
    cfg: EvalConfig,
    step: int,
    run_dir: Path | None,
    synthetic: Any = None,
    model_path: str | None = None,
    final: bool = True,
) -> dict[str, float]:
    """Run every benchmark of ``cfg``; write ``run_dir/eval/step_{step}.jsonl``; return ``eval/<bench>/...`` metrics.

    Where ``cfg.curve_limit`` leaves problems out, a curve point (``final=False``) scores only the first
    ``curve_limit`` problems and logs them as ``eval/<bench>/curve/...``; the final evaluation scores all of them
    (``eval/<bench>/...``) and logs its score on those first ``curve_limit`` too (``eval/<bench>/curve/...``), so
    every point of a curve scores the same problems (redi.eval.metrics).
    """
    validate_eval_config(cfg)
    template = resolve_prompt_template(cfg.prompt_template)
    suite = {name: load_benchmark(name, bench, synthetic=synthetic) for name, bench in cfg.benchmarks.items()}
    subset = {name: _curve_size(cfg.curve_limit, len(problems)) for name, problems in suite.items()}
    if not final:
        suite = {name: problems[: subset[name] or len(problems)] for name, problems in suite.items()}
    engine = make_engine(cfg, model, tokenizer, model_path)
    metrics: dict[str, float] = {}
    records: list[dict[str, Any]] = []
    try:
        with Grader(cfg.grader) as grader:
            for name, problems in suite.items():
                log.info(
                    "eval step %d: %s, %d problems x %d samples", step, name, len(problems), cfg.num_samples
                )
                gens = engine.generate(
                    format_prompts(tokenizer, problems, template),
                    cfg.num_samples,
                    cfg.seed,
                )
                texts = [g.text for samples in gens for g in samples]
                golds = [p.golds for p, samples in zip(problems, gens, strict=True) for _ in samples]
                verdicts = grader.grade(texts, golds, progress=cfg.progress_bar)
                scored = _benchmark_metrics(name, gens, verdicts, cfg, subset[name], final)
                metrics.update(scored)
                records.extend(_records(name, step, problems, gens, verdicts))
                for prefix, what in ((f"eval/{name}", "all problems"), (curve_prefix(name), "curve subset")):
                    if f"{prefix}/pass@1" in scored:
                        log.info(
                            "eval step %d: %s pass@1 %.4f +- %.4f (%s)",
                            step,
                            name,
                            scored[f"{prefix}/pass@1"],
                            scored[f"{prefix}/pass@1_sem"],
                            what,
                        )
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    if run_dir is not None:
        write_jsonl_atomic(Path(run_dir) / "eval" / f"step_{step}.jsonl", records)
    return metrics


def _curve_size(curve_limit: int | None, problems: int) -> int | None:
    """How many problems a curve point scores when ``curve_limit`` leaves some out, else None (it scores all)."""
    return curve_limit if curve_limit is not None and curve_limit < problems else None


def _benchmark_metrics(
    name: str,
    gens: list[list[Generation]],
    verdicts: list[Verdict],
    cfg: EvalConfig,
    subset: int | None,
    final: bool,
) -> dict[str, float]:
    """``eval/<name>/...`` on every generated problem when ``final`` or no subset; ``eval/<name>/curve/...`` on the
    first ``subset`` problems when there is one."""
    k = cfg.num_samples

    def score(n: int, prefix: str) -> dict[str, float]:
        flat = [g for samples in gens[:n] for g in samples]
        return benchmark_metrics(
            [[v.correct for v in verdicts[i * k : (i + 1) * k]] for i in range(n)],
            lengths=[g.num_tokens for g in flat],
            truncated=[g.finish_reason == "length" for g in flat],
            timeouts=sum(v.timed_out for v in verdicts[: n * k]),
            ks=cfg.pass_at_k,
            prefix=prefix,
        )

    out: dict[str, float] = {}
    if final or subset is None:
        out.update(score(len(gens), f"eval/{name}"))
    if subset is not None:
        out.update(score(subset, curve_prefix(name)))
        out[f"{curve_prefix(name)}/problems"] = float(subset)
    return out
