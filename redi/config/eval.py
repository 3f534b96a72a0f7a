"""``eval.*``: benchmarks, sampling, pass@k and the grader (Math-Verify options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BenchmarkConfig:
    """One benchmark: a hub id or a local file (JSON array or jsonl), or the synthetic teacher's held-out split."""

    source: str = "local"  # local | hub | synthetic
    path: str | None = None
    hub_id: str | None = None
    hub_config: str | None = None
    split: str = "test"
    problem_key: str = "problem"
    answer_key: str = "answer"
    solution_key: str | None = "solution"  # used when the answer only appears as \boxed{} in the solution
    limit: int | None = None  # evaluate the first N problems only
    # column naming each problem; null = the first of unique_id/id/idx present, else the row number
    id_key: str | None = None


@dataclass
class GraderConfig:
    """Answer extraction and equivalence (Math-Verify) with a wall-clock limit per sample."""

    timeout_s: float = 5.0
    workers: int = 2
    # boxed (last \boxed{}) | latex_expr (Math-Verify's default extraction) | latex | expr (one of its two)
    extraction: str = "boxed"
    float_rounding: int = 6
    numeric_precision: int = 15
    strict: bool = True
    allow_set_relation_comp: bool = False
    # answer: a bare gold expression, parsed as \boxed{gold} | text: parsed like a prediction
    gold_format: str = "answer"
    fast_path: bool = True  # string equality (normalised) of extracted answer and gold skips Math-Verify
    max_answer_chars: int | None = 10000  # longer extracted answers score incorrect unparsed; null = no cap
    start_method: str = "forkserver"  # how worker processes start: forkserver | spawn | fork


@dataclass
class EvalConfig:
    """Sampled pass@1 over k samples with standard error (the paper's protocol)."""

    benchmarks: dict[str, Any] = field(default_factory=dict)
    engine: str = "hf"  # hf | vllm
    num_samples: int = 4
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 256
    batch_size: int = 64
    seed: int = 0
    every_n_steps: int = 0  # 0 = no evaluation during training
    # during training (step 0 and every_n_steps) only each benchmark's first N problems: cheap curves, while the
    # final evaluation uses the benchmark's own limit (e.g. curves on 300, final checkpoint on 1,000); null = same.
    # Logged as eval/<bench>/curve/* at every evaluation, the final one included (scored on the same first N), and
    # read by the curves and the collapse rule; eval/<bench>/* is always every problem (redi.eval.metrics)
    curve_limit: int | None = None
    at_start: bool = True  # evaluate the starting model (step 0) of a preference run
    at_end: bool = True
    prompt_template: str = "{problem}"
    pass_at_k: list[int] = field(default_factory=lambda: [1])
    vllm_gpu_memory_utilization: float = 0.8
    vllm_tensor_parallel_size: int = 1
    grader: GraderConfig = field(default_factory=GraderConfig)
    progress_bar: bool = True  # tqdm bars for generation and grading

    def __post_init__(self) -> None:
        """As an object (OmegaConf.to_object), every benchmark entry is a BenchmarkConfig, defaults filled in."""
        from omegaconf import OmegaConf

        self.benchmarks = {
            name: entry
            if isinstance(entry, BenchmarkConfig)
            else OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(BenchmarkConfig), entry))
            for name, entry in self.benchmarks.items()
        }
