"""The teacher's public interface: checking its settings, generating the rows in the Open-R1 schema (every trace
marked by the project's grader), and the held-out evaluation split."""

from __future__ import annotations

import random
from pathlib import Path

from redi.config import GraderConfig, ModelTeacherConfig, SyntheticTeacherConfig, TinyArchConfig
from redi.data.synthetic.errors import ERROR_TYPES, make_traces
from redi.data.synthetic.problems import Problem, _problems, hardness
from redi.data.synthetic.shortcut import make_shortcut_traces

# column: the column-work teacher (mistakes in the work); shortcut: a step may skip its work and then often fails
TASKS = ("column", "shortcut")
# rules: traces written by the rules above; model: sampled from a model trained on ground truth (redi.stages.teacher)
TEACHERS = ("rules", "model")


def teacher_config(values: dict) -> SyntheticTeacherConfig:
    """A SyntheticTeacherConfig from plain values (a config container or JSON), nested blocks included."""
    values = dict(values)
    block = values.get("model_teacher")
    if isinstance(block, dict):
        block = dict(block)
        if isinstance(block.get("arch"), dict):
            block["arch"] = TinyArchConfig(**block["arch"])
        values["model_teacher"] = ModelTeacherConfig(**block)
    return SyntheticTeacherConfig(**values)


def validate_model_teacher(cfg: ModelTeacherConfig) -> None:
    """Raise naming the data.synthetic.model_teacher key and value the model teacher cannot use."""
    key = "data.synthetic.model_teacher"
    for name in ("train_problems", "micro_batch_size", "num_samples", "max_new_tokens", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{key}.{name} must be >= 1, got {getattr(cfg, name)!r}")
    for name in ("lr", "epochs"):
        if not getattr(cfg, name) > 0:
            raise ValueError(f"{key}.{name} must be > 0, got {getattr(cfg, name)!r}")
    for name in ("train_seed", "seed", "draw"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{key}.{name} must be >= 0, got {getattr(cfg, name)!r}")
    if not 0 <= cfg.warmup_ratio < 1:
        raise ValueError(f"{key}.warmup_ratio must be in [0, 1), got {cfg.warmup_ratio!r}")
    if cfg.temperature < 0 or not 0 < cfg.top_p <= 1:
        raise ValueError(
            f"{key}: temperature must be >= 0 and top_p in (0, 1], got {cfg.temperature}, {cfg.top_p}"
        )
    arch = cfg.arch
    if min(
        arch.hidden_size, arch.num_hidden_layers, arch.num_attention_heads, arch.num_key_value_heads
    ) < 1 or (
        arch.hidden_size % arch.num_attention_heads or arch.num_attention_heads % arch.num_key_value_heads
    ):
        raise ValueError(
            f"{key}.arch: hidden_size must be a multiple of num_attention_heads and that of num_key_value_heads "
            f"(all >= 1), got {arch.hidden_size}, {arch.num_attention_heads}, {arch.num_key_value_heads}"
        )
    if cfg.traces is not None and not Path(cfg.traces).is_file():
        raise ValueError(
            f"{key}.traces: no such file {cfg.traces!r} (the teacher stage sets it; leave it null)"
        )


def validate_teacher_config(cfg: SyntheticTeacherConfig) -> None:
    """Raise naming the key and value of a setting the teacher cannot use."""
    if cfg.num_problems < 1 or cfg.num_eval_problems < 0:
        raise ValueError(
            f"data.synthetic: num_problems must be >= 1 and num_eval_problems >= 0, got "
            f"{cfg.num_problems}, {cfg.num_eval_problems}"
        )
    if not 1 <= cfg.min_traces <= cfg.max_traces:
        raise ValueError(
            f"data.synthetic: need 1 <= min_traces <= max_traces, got {cfg.min_traces}, {cfg.max_traces}"
        )
    for key in ("difficulty", "error_rate", "error_concentration", "word_problem_rate"):
        value = getattr(cfg, key)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"data.synthetic.{key} must be in [0, 1], got {value!r}")
    unknown = sorted(set(cfg.error_types) - set(ERROR_TYPES))
    if unknown:
        raise ValueError(f"data.synthetic.error_types: unknown type(s) {unknown}; known: {list(ERROR_TYPES)}")
    if any(w < 0 for w in cfg.error_types.values()) or (
        cfg.error_rate > 0 and not any(cfg.error_types.values())
    ):
        raise ValueError(
            f"data.synthetic.error_types: weights must be >= 0 and not all 0, got {dict(cfg.error_types)}"
        )
    if cfg.task not in TASKS:
        raise ValueError(f"data.synthetic.task: unknown task {cfg.task!r}; known: {list(TASKS)}")
    for key in ("shortcut_rate", "shortcut_error_rate"):
        value = getattr(cfg, key)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"data.synthetic.{key} must be in [0, 1], got {value!r}")
    if cfg.heldout_buckets < 2:
        raise ValueError(f"data.synthetic.heldout_buckets must be >= 2, got {cfg.heldout_buckets}")
    if cfg.teacher not in TEACHERS:
        raise ValueError(f"data.synthetic.teacher: unknown teacher {cfg.teacher!r}; known: {list(TEACHERS)}")
    if cfg.teacher == "model":
        validate_model_teacher(cfg.model_teacher)


def grade_traces(texts: list[str], golds: list[str], grader_cfg: GraderConfig | None = None) -> list[bool]:
    """The project's grader's verdicts (last \\boxed{} against the gold)."""
    from redi.grading.grader import Grader

    with Grader(grader_cfg or GraderConfig()) as grader:
        return [v.correct for v in grader.grade(texts, golds)]


def training_problems(cfg: SyntheticTeacherConfig) -> list[Problem]:
    """The task's ``cfg.num_problems`` training problems (never a held-out expression), deterministic given cfg."""
    return _problems(cfg, cfg.num_problems, heldout=False, salt=1)


def problem_row(cfg: SyntheticTeacherConfig, index: int, problem: Problem, generations: list[str],
                complete: list[bool], errors: list[str | None]) -> dict:  # fmt: skip
    """One problem's Open-R1-schema row (verdict columns are added by the caller, from the grader)."""
    return {
        "problem": problem.text,
        "answer": str(problem.answer),
        "source": f"synthetic_{problem.kind}",
        "uuid": f"synthetic-{cfg.seed}-{index:06d}",
        "problem_is_valid": "yes",
        "problem_type": "Arithmetic",
        "question_type": "math-word-problem",
        "expression": problem.expression,
        "generations": generations,
        "is_reasoning_complete": complete,
        "finish_reasons": ["stop" if c else "length" for c in complete],
        "error_types": errors,
    }


def generate_teacher_rows(cfg: SyntheticTeacherConfig, grader_cfg: GraderConfig | None = None) -> list[dict]:
    """Training rows in the Open-R1 schema, deterministic given ``cfg``.

    Columns: problem, answer, source, uuid, problem_is_valid, problem_type, question_type, expression, generations,
    correctness_math_verify, correctness_llama (both the grader's verdict: the teacher has one verifier),
    is_reasoning_complete, finish_reasons, error_types (the injected mistake per trace, or None).
    """
    validate_teacher_config(cfg)
    problems = training_problems(cfg)
    rng = random.Random(cfg.seed * 1_000_003 + 2)
    hard = [hardness(p) for p in problems]
    mean_hard = sum(hard) / len(hard)
    rows, texts, golds = [], [], []
    for i, (p, h) in enumerate(zip(problems, hard, strict=True)):
        scale = (1.0 - cfg.error_concentration) + cfg.error_concentration * h / mean_hard
        p_error = min(0.95, cfg.error_rate * scale)
        n = rng.randint(cfg.min_traces, cfg.max_traces)
        maker = make_shortcut_traces if cfg.task == "shortcut" else make_traces
        traces = maker(p, n, p_error, cfg, rng)
        answer = str(p.answer)
        rows.append(
            problem_row(
                cfg, i, p, [t.text for t in traces], [t.complete for t in traces], [t.error for t in traces]
            )
        )
        texts += [t.text for t in traces]
        golds += [answer] * len(traces)
    verdicts = iter(grade_traces(texts, golds, grader_cfg))
    for row in rows:
        marks = [next(verdicts) for _ in row["generations"]]
        row["correctness_math_verify"] = marks
        row["correctness_llama"] = list(marks)
    return rows


def heldout_problems(cfg: SyntheticTeacherConfig) -> list[dict]:
    """The evaluation split: ``cfg.num_eval_problems`` problems whose expressions never occur in training.

    Keys: id, problem, answer (an integer as a string), expression. Deterministic given cfg.seed and the generator
    settings; the split is by a hash of the expression, so it does not depend on ``num_problems``.
    """
    validate_teacher_config(cfg)
    problems = _problems(cfg, cfg.num_eval_problems, heldout=True, salt=3)
    return [
        {
            "id": f"synthetic-eval-{cfg.seed}-{i:04d}",
            "problem": p.text,
            "answer": str(p.answer),
            "expression": p.expression,
        }
        for i, p in enumerate(problems)
    ]
