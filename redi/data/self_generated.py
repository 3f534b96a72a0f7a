"""On-policy data (``data=self_generated``): a model's own graded samples -> D_Pref and an RFT D_SFT.

The paper's future work: pairs whose negatives come from the student instead of the teacher. Steps, each counted
in the funnel:
1. problems: the task's training problems, i.e. the D_SFT of the rest of the data block as the builder makes it
   (its filters and decontamination included), in the builder's order; the first ``max_problems``; rows without a
   gold answer are skipped (``problems_no_answer``).
2. samples: ``num_samples`` responses per problem from the sampling model (redi.model.engines: hf or vLLM), the
   user turn ``data.prompt_template`` through the tokenizer's chat template, as training encodes it.
3. verdicts: eval.grader (redi.grading.grader, Math-Verify) against the problem's answer, as evaluation grades.
4. D_SFT (rejection-sampling fine-tuning): up to ``sft_per_problem`` distinct correct samples per problem.
5. D_Pref: up to ``pairs_per_problem`` pairs per problem, the i-th distinct correct sample as chosen and the i-th
   distinct incorrect one as rejected (data.builder.swap_pairs swaps them, the label-inversion control).
The build is cached beside the teacher's builds (``<cache>/data/<key>/``, the same sft.arrow pairs.arrow funnel.json
layout, plus samples.jsonl with every sample and verdict); the key holds the task build's key, the sampling
model's identity (a digest of its weight, config and tokenizer files, or hub id and revision), every sampling
setting, the grader's settings, the prompt template and this module's and the engines' and grader's code.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

    from redi.data.tables import BuiltData
    from redi.model.source import ModelSource

log = logging.getLogger(__name__)
VERSION = 1
KEY = "data.self_generated"
_IDENTITY_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt")  # weights, config, tokenizer files
_UNGRADED = ("workers", "start_method")  # grader settings that cannot change a verdict


# ---------------------------------------------------------------------------------------------------------------
# settings


def validate_self_generated(block: Any) -> None:
    """Raise a DataError naming every bad key of ``block`` (data.self_generated), before any compute."""
    from redi.config.checks import Checks
    from redi.data.checks import check_self_generated
    from redi.data.errors import DataError

    c = Checks(block, KEY)
    check_self_generated(c)
    if c.errors:
        raise DataError("; ".join(c.errors))


def enabled(data: Any) -> bool:
    """Whether the data block (a DictConfig or DataConfig) asks for self-generated data; a config without it: no."""
    block = data.get("self_generated") if hasattr(data, "keys") else getattr(data, "self_generated", None)
    if block is None:
        return False
    return bool(block.get("enabled") if hasattr(block, "keys") else block.enabled)


# ---------------------------------------------------------------------------------------------------------------
# problems, samples, verdicts, tables


@dataclass(frozen=True)
class TaskProblem:
    """One training problem of the task: its id, text and gold answer."""

    problem_id: str
    problem: str
    answer: str


@dataclass(frozen=True)
class Sample:
    """One sampled response with its verdict and why generation stopped ("stop" | "length")."""

    text: str
    correct: bool
    finish_reason: str


def task_problems(
    sft: datasets.Dataset, max_problems: int | None, funnel: dict[str, int]
) -> list[TaskProblem]:
    """The first ``max_problems`` rows of the task's D_SFT with a gold answer, one per problem id."""
    funnel["problems_available"] = len(sft)
    seen: set[str] = set()
    out: list[TaskProblem] = []
    no_answer = 0
    for pid, problem, answer in zip(sft["problem_id"], sft["problem"], sft["answer"], strict=True):
        if max_problems is not None and len(seen) >= max_problems:
            break
        if pid in seen:
            continue
        seen.add(pid)
        if not str(answer or "").strip():
            no_answer += 1
            continue
        out.append(TaskProblem(str(pid), str(problem), str(answer)))
    funnel["problems_max_problems"] = len(seen)
    funnel["problems_no_answer"] = no_answer
    funnel["problems"] = len(out)
    return out


def sample_and_grade(
    prompts: list[str],
    problems: list[TaskProblem],
    engine: Any,
    grader: Any,
    num_samples: int,
    seed: int,
) -> list[list[Sample]]:
    """``num_samples`` graded samples per problem: engine.generate, then grader.grade against each answer."""
    gens = engine.generate(prompts, num_samples, seed)
    texts = [g.text for samples in gens for g in samples]
    golds = [p.answer for p, samples in zip(problems, gens, strict=True) for _ in samples]
    verdicts = iter(grader.grade(texts, golds))
    return [[Sample(g.text, next(verdicts).correct, g.finish_reason) for g in samples] for samples in gens]


def _distinct(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def build_tables(
    problems: list[TaskProblem], samples: list[list[Sample]], block: Any, swap: bool, funnel: dict[str, int]
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(D_SFT, D_Pref) in the builder's schema from each problem's graded samples; counts go into ``funnel``."""
    import datasets

    from redi.data.tables import PAIR_COLUMNS, SFT_COLUMNS

    sft: dict[str, list[str]] = {k: [] for k in SFT_COLUMNS}
    pairs: dict[str, list[str]] = {k: [] for k in PAIR_COLUMNS}
    flat = [s for row in samples for s in row]
    funnel["samples"] = len(flat)
    funnel["samples_truncated"] = sum(s.finish_reason == "length" for s in flat)
    if block.drop_truncated:
        samples = [[s for s in row if s.finish_reason != "length"] for row in samples]
        funnel["samples_kept"] = sum(len(row) for row in samples)
    funnel["samples_correct"] = sum(s.correct for row in samples for s in row)
    funnel["samples_incorrect"] = sum(not s.correct for row in samples for s in row)
    counts = {"problems_has_correct": 0, "problems_has_incorrect": 0, "problems_has_both": 0}
    for p, row in zip(problems, samples, strict=True):
        good = _distinct([s.text for s in row if s.correct])
        bad = _distinct([s.text for s in row if not s.correct])
        counts["problems_has_correct"] += bool(good)
        counts["problems_has_incorrect"] += bool(bad)
        counts["problems_has_both"] += bool(good and bad)
        for text in good[: block.sft_per_problem]:
            for k, v in zip(SFT_COLUMNS, (p.problem_id, p.problem, text, p.answer), strict=True):
                sft[k].append(v)
        for chosen, rejected in list(zip(good, bad, strict=False))[: block.pairs_per_problem]:
            chosen, rejected = (rejected, chosen) if swap else (chosen, rejected)
            for k, v in zip(PAIR_COLUMNS, (p.problem_id, p.problem, chosen, rejected, p.answer), strict=True):
                pairs[k].append(v)
    funnel.update(counts)
    funnel["sft_rows"] = len(sft["response"])
    funnel["pair_rows"] = len(pairs["chosen"])

    def table(columns: dict[str, list[str]]) -> datasets.Dataset:
        features = datasets.Features({k: datasets.Value("string") for k in columns})
        return datasets.Dataset.from_dict(columns, features=features)

    return table(sft), table(pairs)


# ---------------------------------------------------------------------------------------------------------------
# the sampling model, the cache key and the build


def model_identity(source: ModelSource, revision: str | None = None) -> dict[str, str]:
    """What names the sampling model's weights and tokenizer: a digest of its files, or its hub id and revision."""
    from redi.infra.cache import file_digest

    if source.kind == "hub":
        return {"hub": source.location, "revision": str(revision)}
    identity = {"kind": source.kind}
    for role, where in (("files", source.location), ("tokenizer", source.tokenizer), ("base", source.base)):
        if where is None:
            continue
        path = Path(where)
        files = (
            [f for f in path.iterdir() if f.is_file() and f.suffix in _IDENTITY_SUFFIXES]
            if path.is_dir()
            else []
        )
        identity[role] = file_digest(files) if files else f"hub:{where}"
    return identity


def _code_hash() -> str:
    from redi.grading import grader
    from redi.model import engines

    h = hashlib.sha256()
    for path in (Path(__file__), Path(engines.__file__), Path(grader.__file__)):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_key(
    data: Any, task_key: str, identity: dict[str, str], engine: str, grader: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The hash naming a self-generated build, and the inputs it was made from (saved as inputs.json)."""
    from redi.config.checks import plain as _plain
    from redi.infra.cache import content_key

    block = dict(_plain(data.self_generated))
    block.pop("enabled", None)
    block["engine"] = engine
    inputs = {
        "version": VERSION,
        "task_build": task_key,
        "model": identity,
        "sampling": block,
        "grader": {k: v for k, v in _plain(grader).items() if k not in _UNGRADED},
        "prompt_template": data.prompt_template,
        "swap_pairs": bool(data.builder.swap_pairs),
        "code": _code_hash(),
    }
    return "self-" + content_key(inputs), inputs


@dataclass
class Sampler:
    """The sampling model: its identity (for the key, without loading it) and how to get an engine for it.

    ``open(eval_cfg)`` returns (engine, tokenizer); called only when the build is not cached.
    """

    identity: dict[str, str]
    open: Callable[[Any], tuple[Any, Any]]


def sampling_eval_config(block: Any, eval_cfg: Any) -> Any:
    """An EvalConfig carrying the self_generated block's sampling settings and evaluation's engine knobs."""
    from redi.config import EvalConfig, GraderConfig
    from redi.config.checks import plain as _plain

    return EvalConfig(
        engine=block.engine or eval_cfg.engine,
        num_samples=block.num_samples,
        temperature=block.temperature,
        top_p=block.top_p,
        max_new_tokens=block.max_new_tokens,
        batch_size=block.batch_size,
        seed=block.seed,
        vllm_gpu_memory_utilization=eval_cfg.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=eval_cfg.vllm_tensor_parallel_size,
        grader=GraderConfig(**_plain(eval_cfg.grader)),
        progress_bar=eval_cfg.progress_bar,
    )


def _write_samples(path: Path, problems: list[TaskProblem], samples: list[list[Sample]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for p, row in zip(problems, samples, strict=True):
            for j, s in enumerate(row):
                record = {"problem_id": p.problem_id, "sample_index": j, "gold": p.answer,
                          "correct": s.correct, "finish_reason": s.finish_reason, "text": s.text}  # fmt: skip
                f.write(json.dumps(record, ensure_ascii=False) + "\n")


def nothing_kept(funnel: dict[str, int]) -> str:
    """Why the samples made neither a pair nor an RFT row, naming the keys that change it."""
    return (
        f"{KEY}: the sampling model's samples made no pairs and no SFT rows: {funnel.get('samples_correct', 0)} of "
        f"{funnel.get('samples', 0)} samples on {funnel.get('problems', 0)} problems were correct "
        f"({funnel.get('samples_truncated', 0)} hit {KEY}.max_new_tokens). Use a stronger model ({KEY}.model, or "
        f"a longer stage 1), more samples ({KEY}.num_samples) or more problems ({KEY}.max_problems); funnel: {funnel}"
    )


def build_self_generated(
    data: Any, task: BuiltData, sampler: Sampler, eval_cfg: Any, cache_dir: Path
) -> BuiltData:
    """D_SFT and D_Pref from ``sampler``'s graded samples on ``task``'s training problems, built once and cached."""
    from redi.data import tables
    from redi.data.errors import DataError
    from redi.data.funnel import format_funnel
    from redi.grading.grader import Grader
    from redi.infra.cache import building
    from redi.model.engines import chat_prompts

    block = data.self_generated
    validate_self_generated(block)
    settings = sampling_eval_config(block, eval_cfg)
    key, inputs = cache_key(data, task.key, sampler.identity, settings.engine, settings.grader)
    target = Path(cache_dir) / "data" / key
    with building(target, f"the self-generated data {key}") as work:
        if work is None:
            built = tables.load(target, key)
            log.info("data: cached self-generated build %s\n%s", target, format_funnel(built.funnel))
            return built
        funnel: dict[str, int] = {}
        problems = task_problems(task.sft, block.max_problems, funnel)
        engine, tokenizer = sampler.open(settings)
        try:
            prompts = chat_prompts(tokenizer, [p.problem for p in problems], data.prompt_template)
            log.info(
                "data: sampling %d problems x %d from %s", len(problems), block.num_samples, sampler.identity
            )
            with Grader(settings.grader) as grader:
                samples = sample_and_grade(prompts, problems, engine, grader, block.num_samples, block.seed)
        finally:
            close = getattr(engine, "close", None)
            if close is not None:
                close()
        sft, pairs = build_tables(problems, samples, block, bool(data.builder.swap_pairs), funnel)
        if len(sft) == 0 and len(pairs) == 0:
            raise DataError(nothing_kept(funnel))
        tables.save(work, sft, pairs, funnel)
        _write_samples(work / "samples.jsonl", problems, samples)
        (work / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True, default=str))
    built = tables.load(target, key)
    log.info("data: built self-generated %s\n%s", target, format_funnel(built.funnel))
    return built
