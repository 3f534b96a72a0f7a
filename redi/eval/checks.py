"""Checks of the eval block and its benchmarks (the grader's: redi.grading.checks), run by redi.validate before any
import; the evaluation runs :func:`check_eval_settings` again on the settings it is given.

Kept free of torch, vLLM and Math-Verify: a typo in eval.* must fail before stage 1 trains, not after.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from redi.eval.prompts import resolve_prompt_template
from redi.grading.checks import check_grader
from redi.model.checks import ENGINES

if TYPE_CHECKING:
    from redi.config.checks import Checks


def check_benchmark(c: Checks, data_source: str) -> None:
    source = c.get("source")
    c.choice("source", ("local", "hub", "synthetic"))
    if source == "local":
        path = c.get("path")
        if not path:
            c.fail(f"{c.key('path')}: required when {c.key('source')}=local")
        elif not Path(str(path)).expanduser().is_file():
            c.error("path", "no such file" + (" (a directory)" if Path(str(path)).is_dir() else ""))
    if source == "hub" and not c.get("hub_id"):
        c.fail(f"{c.key('hub_id')}: required when {c.key('source')}=hub")
    elif source == "hub":  # cached or reachable in seconds (redi.infra.hub), else one line
        from redi.infra.hub import hub_problem

        problem = hub_problem(str(c.get("hub_id")), c.key("hub_id"), "dataset")
        if problem:
            c.fail(problem)
    if source == "synthetic" and data_source != "synthetic":
        c.fail(
            f"{c.key('source')}=synthetic needs data.source=synthetic (got data.source={data_source!r}): "
            f"drop it with ~{c.prefix} and add your own with eval.benchmarks.<name>.path=FILE"
        )
    c.number("limit", low=1, integer=True, optional=True)


def check_eval_settings(c: Checks) -> None:
    """The eval block's settings (engine, sampling, schedule, prompt template, grader): the rules the evaluation
    itself runs again (redi.eval.evaluate.validate_eval_config)."""
    c.choice("engine", ENGINES)
    c.number("num_samples", low=1, integer=True)
    c.number("temperature", low=0)
    c.number("top_p", low=0, high=1, low_open=True)
    c.number("max_new_tokens", low=1, integer=True)
    c.number("batch_size", low=1, integer=True)
    c.number("every_n_steps", low=0, integer=True, hint="0 = no evaluation during training")
    c.number("curve_limit", low=1, integer=True, optional=True, hint="null = the benchmarks' own limits")
    c.number("vllm_gpu_memory_utilization", low=0, high=1, low_open=True)
    c.number("vllm_tensor_parallel_size", low=1, integer=True)
    c.guard(lambda: resolve_prompt_template(c.get("prompt_template")), ValueError, AttributeError)
    check_grader(c.sub("grader"))


def check_eval(c: Checks, data_source: str) -> None:
    """The eval block: its settings, vLLM installed when chosen, pass@k within the samples, each benchmark."""
    check_eval_settings(c)
    if c.get("engine") == "vllm" and importlib.util.find_spec("vllm") is None:
        c.fail("eval.engine=vllm but vLLM is not installed: pip install 'redi[vllm]' (needs a GPU)")
    samples = c.get("num_samples")
    for i, k in enumerate(c.get("pass_at_k") or []):
        if not isinstance(k, int) or k < 1 or (isinstance(samples, int) and k > samples):
            c.fail(
                f"{c.key('pass_at_k')}[{i}]={k!r}: must be a whole number in [1, eval.num_samples={samples}]"
            )
    for name in c.get("benchmarks") or {}:
        check_benchmark(c.sub("benchmarks").sub(name), data_source)
