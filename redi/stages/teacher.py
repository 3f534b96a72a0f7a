"""The model teacher (``data.synthetic.teacher=model``): train it on the task's ground truth, sample its traces.

The paper distils DeepSeek-R1's traces; in miniature the teacher is a larger Qwen2 model (data.synthetic.model_teacher
.arch) fine-tuned on correct traces of other problems of the same task (error-free rules traces, drawn with
``train_seed``), so its mistakes are its own and fall where the task is hard for a model. Two cached steps:

1. the teacher model: a stage-1 SFT run (redi.stages.stage1, handed in by the entry point) of that architecture on the ground truth, keyed by
   the architecture, the ground-truth settings and the teacher's training block (not by the draw);
2. the draw: ``num_samples`` traces per training problem of the student at ``temperature``, seeded by ``draw``,
   graded by eval.grader, written as Open-R1-schema rows (traces.jsonl) with a summary (summary.json: how often
   the teacher is right, by problem hardness, its mistake kinds, its held-out accuracy at the same temperature).

:func:`ensure` runs both (each only when not cached) and points ``data.synthetic.model_teacher.traces`` at the
draw's file, so every later reader of the data (tokenizer, builder, stage 1, diagnostics) sees the same traces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from redi.config import EvalConfig, GraderConfig
from redi.config.checks import plain as _plain
from redi.data.build_key import files_hash as _code_hash
from redi.infra.cache import building, cache_dir, content_key, file_digest
from redi.infra.distributed import DistEnv, barrier, broadcast_flag
from redi.infra.progress import phase

log = logging.getLogger(__name__)
VERSION = 1
KEY = "data.synthetic.model_teacher"


def uses_model_teacher(cfg: DictConfig) -> bool:
    """Whether the run's traces come from a model teacher."""
    return cfg.data.source == "synthetic" and OmegaConf.select(cfg, "data.synthetic.teacher") == "model"


def teacher_training_config(cfg: DictConfig) -> DictConfig:
    """A config whose stage-1 model is the teacher: its architecture, trained by SFT on error-free traces."""
    block = cfg.data.synthetic.model_teacher
    t = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    with open_dict(t):
        t.model.base = None
        t.model.arch = OmegaConf.to_container(block.arch)
        synthetic = t.data.synthetic
        synthetic.teacher = "rules"
        synthetic.task = "column"  # the ground truth: column work, every trace correct, one per problem
        synthetic.error_rate = 0.0
        synthetic.min_traces = synthetic.max_traces = 1
        synthetic.num_problems = block.train_problems
        synthetic.seed = block.train_seed
        t.data.self_generated.enabled = False
        t.data.builder.swap_pairs = False
        t.stage1 = {
            "lr": block.lr,
            "epochs": block.epochs,
            "micro_batch_size": block.micro_batch_size,
            "grad_accum_steps": 1,
            "warmup_ratio": block.warmup_ratio,
            "weight_decay": cfg.stage1.weight_decay,
            "scheduler": "cosine",
            "adam_beta2": 0.95,
            "seed": block.seed,
        }
    return t


def sampling_config(cfg: DictConfig) -> EvalConfig:
    """How the teacher samples: the model_teacher block's settings, evaluation's grader."""
    block = cfg.data.synthetic.model_teacher
    return EvalConfig(
        engine="hf",
        num_samples=block.num_samples,
        temperature=block.temperature,
        top_p=block.top_p,
        max_new_tokens=block.max_new_tokens,
        batch_size=block.batch_size,
        seed=block.draw,
        grader=GraderConfig(**_plain(cfg.eval.grader)),
        progress_bar=cfg.eval.progress_bar,
    )


def draw_key(cfg: DictConfig, teacher_dir: Path) -> str:
    """The draw's cache key: the teacher's weights, the student's problems, the sampling and grading settings."""
    synthetic = dict(_plain(cfg.data.synthetic))
    block = synthetic.pop("model_teacher")
    block.pop("traces", None)
    grader = {k: v for k, v in _plain(cfg.eval.grader).items() if k not in ("workers", "start_method")}
    weights = file_digest(sorted(p for p in (teacher_dir / "model").iterdir() if p.is_file()))
    return content_key(
        VERSION, weights, synthetic, block, grader, cfg.data.prompt_template,
        _code_hash(("synthetic/model_teacher.py", "synthetic/classify.py")),
    )  # fmt: skip


def _sample(engine, tokenizer, problems, template: str, k: int, seed: int, grader_cfg: GraderConfig):
    """``k`` graded samples per problem (synthetic Problems), as GradedSample lists."""
    from redi.data.synthetic.model_teacher import GradedSample
    from redi.grading.grader import Grader
    from redi.model.engines import chat_prompts

    gens = engine.generate(chat_prompts(tokenizer, [p.text for p in problems], template), k, seed)
    with Grader(grader_cfg) as grader:
        verdicts = iter(grader.grade([g.text for row in gens for g in row], [str(p.answer) for p, row in
                                                                              zip(problems, gens, strict=True) for _ in row]))  # fmt: skip
    return [[GradedSample(g.text, next(verdicts).correct, g.finish_reason) for g in row] for row in gens]


def _sampled(path: Path, sample: Callable[[], list]) -> list:
    """The graded samples saved at ``path`` (JSON lines, one problem each), else ``sample()`` saved there first:
    a draw that fails after sampling (e.g. in its summary) resumes without sampling again."""
    from redi.data.synthetic.model_teacher import GradedSample

    if path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [[GradedSample(*s) for s in row] for row in rows]
    samples = sample()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "".join(json.dumps([[s.text, s.correct, s.finish_reason] for s in row]) + "\n" for row in samples)
    )
    tmp.replace(path)
    return samples


def sample_draw(cfg: DictConfig, teacher_dir: Path, work: Path, device) -> dict:
    """Sample, grade and write the draw into ``work`` (traces.jsonl, summary.json); returns the summary."""
    from redi.data.synthetic.model_teacher import draw_summary, teacher_rows, write_rows
    from redi.data.synthetic.problems import _problems
    from redi.data.synthetic.teacher import teacher_config, training_problems
    from redi.model.engines import make_engine
    from redi.model.load import load_model, load_tokenizer
    from redi.model.source import ModelSource

    synthetic = teacher_config(OmegaConf.to_container(cfg.data.synthetic, resolve=True))
    settings = sampling_config(cfg)
    source = ModelSource("dir", str(teacher_dir / "model"))
    tokenizer = load_tokenizer(source, cfg.model)
    model = load_model(source, cfg.model, device)
    engine = make_engine(settings, model, tokenizer)
    template, k = cfg.data.prompt_template, settings.num_samples
    problems = training_problems(synthetic)
    with phase(f"model teacher: sampling {len(problems)} problems x {k}"):
        samples = _sampled(
            work / "samples.jsonl",
            lambda: _sample(engine, tokenizer, problems, template, k, settings.seed, settings.grader),
        )
    rows = teacher_rows(synthetic, problems, samples)
    write_rows(work / "traces.jsonl", rows)
    summary = draw_summary(problems, samples)
    heldout = _problems(synthetic, synthetic.num_eval_problems, heldout=True, salt=3)  # the eval split
    if heldout:
        with phase(f"model teacher: held-out accuracy on {len(heldout)} problems x {k}"):
            graded = _sampled(
                work / "heldout_samples.jsonl",
                lambda: _sample(engine, tokenizer, heldout, template, k, settings.seed + 1, settings.grader),
            )
        summary["heldout"] = draw_summary(heldout, graded)
    summary["teacher_dir"] = str(teacher_dir)
    summary["teacher_parameters"] = sum(p.numel() for p in model.parameters())
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def ensure(cfg: DictConfig, env: DistEnv, stage1_model: Callable[[DictConfig, DistEnv], Path]) -> None:
    """Train the teacher and sample its draw when not cached; point data.synthetic.model_teacher.traces at it.

    ``stage1_model(config, env)`` is the entry point's way to the cached stage-1 run directory of a config
    (redi.stages.stage1.ensure with the training stage): the teacher is the stage-1 model of its own config.
    """
    if not uses_model_teacher(cfg):
        return
    with phase("model teacher"):
        teacher_dir = stage1_model(teacher_training_config(cfg), env)
        target = cache_dir(cfg) / "teacher" / draw_key(cfg, teacher_dir)
        with (
            building(
                target,
                f"the model teacher's draw {target.name}",
                resumable=True,
                is_main=env.is_main,
                agree=lambda flag: broadcast_flag(flag, env),
            ) as work
        ):  # fmt: skip  (resumable: the samples of a draw that failed later are kept for the next try)
            if work is not None and env.is_main:
                summary = sample_draw(cfg, teacher_dir, work, env.device)
                log.info(
                    "model teacher: %s", json.dumps({k: v for k, v in summary.items() if k != "heldout"})
                )
        barrier(env)
    with open_dict(cfg):
        cfg.data.synthetic.model_teacher.traces = str(target / "traces.jsonl")
    log.info("model teacher: traces %s (summary.json beside them)", cfg.data.synthetic.model_teacher.traces)
