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
from redi.eval.benchmarks import Problem, load_benchmark
from redi.eval.engines import ENGINES, Generation, make_engine
from redi.eval.grading import Grader, Verdict, validate_grader_config
from redi.eval.metrics import benchmark_metrics

log = logging.getLogger(__name__)

# The Open-R1 evaluation prompt (lighteval's MATH-500/AIME template) the paper evaluates with; "{problem}" is the slot.
OPEN_R1_PROMPT = (
    "Solve the following math problem efficiently and clearly.  The last line of your response should be of the "
    "following format: 'Therefore, the final answer is: $\\boxed{{ANSWER}}$. I hope it is correct' (without quotes) "
    "where ANSWER is just the final number or expression that solves the problem. Think step by step before "
    "answering.\n\n{problem}"
)
PROMPT_TEMPLATES: dict[str, str] = {"open_r1": OPEN_R1_PROMPT, "raw": "{problem}"}


def resolve_prompt_template(template: str) -> str:
    """The user-turn template: a name from PROMPT_TEMPLATES or a format string with one ``{problem}`` slot."""
    text = PROMPT_TEMPLATES.get(template, template)
    try:
        filled = text.format(problem="\x00")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(
            f"eval.prompt_template: {template!r:.120} is not a known name ({sorted(PROMPT_TEMPLATES)}) nor a format "
            f"string whose only field is {{problem}} (literal braces must be doubled): {e!r}"
        ) from e
    if "\x00" not in filled:
        raise ValueError(f"eval.prompt_template: {template!r:.120} has no {{problem}} slot")
    return text


def validate_eval_config(cfg: EvalConfig) -> None:
    """Raise naming the key and value of any eval setting that cannot work, before anything is loaded."""
    if cfg.engine not in ENGINES:
        raise ValueError(f"eval.engine: {cfg.engine!r} is not one of {list(ENGINES)}")
    if not cfg.benchmarks:
        raise ValueError("eval.benchmarks is empty: choose an eval option (e.g. eval=synthetic) or add one")
    if cfg.num_samples < 1:
        raise ValueError(f"eval.num_samples must be >= 1, got {cfg.num_samples}")
    if cfg.temperature < 0:
        raise ValueError(f"eval.temperature must be >= 0, got {cfg.temperature}")
    if not 0 < cfg.top_p <= 1:
        raise ValueError(f"eval.top_p must be in (0, 1], got {cfg.top_p}")
    if cfg.max_new_tokens < 1:
        raise ValueError(f"eval.max_new_tokens must be >= 1, got {cfg.max_new_tokens}")
    if cfg.batch_size < 1:
        raise ValueError(f"eval.batch_size must be >= 1, got {cfg.batch_size}")
    for k in cfg.pass_at_k:
        if not 1 <= k <= cfg.num_samples:
            raise ValueError(f"eval.pass_at_k: {k} is outside 1..num_samples ({cfg.num_samples})")
    resolve_prompt_template(cfg.prompt_template)
    validate_grader_config(cfg.grader)


def format_prompts(tokenizer: Any, problems: list[Problem], template: str) -> list[str]:
    """Chat-formatted generation prompts: the user turn is ``template.format(problem=...)``."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("evaluation needs a tokenizer with a chat template (model.chat_template)")
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": template.format(problem=p.problem)}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for p in problems
    ]


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

    ``final=False`` (a curve point during training) keeps only each benchmark's first ``cfg.curve_limit`` problems.
    """
    validate_eval_config(cfg)
    template = resolve_prompt_template(cfg.prompt_template)
    suite = {name: load_benchmark(name, bench, synthetic=synthetic) for name, bench in cfg.benchmarks.items()}
    if not final and cfg.curve_limit is not None:
        suite = {name: problems[: cfg.curve_limit] for name, problems in suite.items()}
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
                    format_prompts(tokenizer, problems, template), cfg.num_samples, cfg.seed
                )
                texts = [g.text for samples in gens for g in samples]
                golds = [p.golds for p, samples in zip(problems, gens, strict=True) for _ in samples]
                verdicts = grader.grade(texts, golds, progress=cfg.progress_bar)
                correct = [
                    [v.correct for v in verdicts[i * cfg.num_samples : (i + 1) * cfg.num_samples]]
                    for i in range(len(problems))
                ]
                metrics.update(
                    benchmark_metrics(
                        correct,
                        lengths=[g.num_tokens for samples in gens for g in samples],
                        truncated=[g.finish_reason == "length" for samples in gens for g in samples],
                        timeouts=sum(v.timed_out for v in verdicts),
                        ks=cfg.pass_at_k,
                        prefix=f"eval/{name}",
                    )
                )
                records.extend(_records(name, step, problems, gens, verdicts))
                log.info(
                    "eval step %d: %s pass@1 %.4f +- %.4f",
                    step,
                    name,
                    metrics[f"eval/{name}/pass@1"],
                    metrics[f"eval/{name}/pass@1_sem"],
                )
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    if run_dir is not None:
        write_jsonl_atomic(Path(run_dir) / "eval" / f"step_{step}.jsonl", records)
    return metrics
