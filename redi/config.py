"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

Each YAML option in ``conf/<group>/`` extends ``base_<name>`` from here, so a misspelled key or a wrong type fails
at composition. Cross-field checks that Hydra cannot express live in :func:`validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# ---------------------------------------------------------------------------------------------------------------
# objective


@dataclass
class ObjectiveConfig:
    """Which loss to train with; its hyperparameters are read from root keys (alpha, beta, ...) by interpolation.

    The schema of each objective is made from its module's declarations (:func:`objective_schema`).
    """

    name: str = MISSING


def objective_schema(spec: Any) -> type:
    """``objective.*`` for ``spec``: its name, and each hyperparameter interpolating the root key of that name."""
    fields = [("name", str, field(default=spec.name))]
    fields += [(p.name, float, field(default=f"${{{p.name}}}")) for p in spec.params]
    return make_dataclass(f"{spec.name.capitalize()}ObjectiveConfig", fields, bases=(ObjectiveConfig,))


def objective_node(spec: Any) -> dict[str, Any]:
    """The global-package node conf/objective/<name>.yaml extends: the typed objective and its root defaults."""
    return {
        "objective": OmegaConf.structured(objective_schema(spec)),
        **{p.name: p.default for p in spec.params},
    }


# ---------------------------------------------------------------------------------------------------------------
# model


@dataclass
class TinyArchConfig:
    """Shape of the Qwen2-architecture model built from scratch when ``model.base`` is null."""

    hidden_size: int = 128
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 384
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    vocab_size: int = 512  # size the tokenizer trained on the data is asked for


@dataclass
class LoraConfig:
    """LoRA adapters through the peft library; r = 0 trains every weight (no adapter).

    The run's policy gets the adapter (SFT from ``model.base`` or any preference run); the stage-1 model that
    ``init_from=stage1`` builds is always fully fine-tuned. The saved model/ holds the merged weights; adapter/
    the adapter alone.
    """

    r: int = 0
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    bias: str = "none"  # none | all | lora_only


@dataclass
class ModelConfig:
    """The policy: where its weights come from and how it runs.

    base: hub id or local path of the model stage 1 starts from; null builds the tiny model from ``arch``.
    init_from: where preference objectives start: "stage1" (build or reuse the cached stage-1 SFT model from the
      ``stage1`` block), a stage-1 run directory, a local Hugging Face model directory, or a hub id.
    """

    base: str | None = None
    init_from: str = "stage1"
    revision: str | None = None
    tokenizer: str | None = None  # defaults to the model's own tokenizer
    arch: TinyArchConfig = field(default_factory=TinyArchConfig)
    # auto: the tokenizer's own template when it has one, else chatml_think; "model": the tokenizer's own (an
    # error when it has none); or a name from redi.chat_templates to replace it. The choice is logged.
    chat_template: str = "auto"
    lora: LoraConfig = field(default_factory=LoraConfig)
    dtype: str = "float32"  # float32 | bfloat16 | float16
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2
    gradient_checkpointing: bool = False
    rope_theta: float | None = None  # the paper raises Qwen2.5-Math's to 300000 before training
    max_position_embeddings: int | None = None  # and max positions to 32768


# ---------------------------------------------------------------------------------------------------------------
# data


@dataclass
class SyntheticTeacherConfig:
    """The embedded teacher: arithmetic problems, 2-4 traces each, with realistic mistakes (see redi.data.synthetic)."""

    num_problems: int = 10000
    num_eval_problems: int = 300
    min_traces: int = 2
    max_traces: int = 4
    difficulty: float = 0.3  # 0 = easiest, 1 = hardest (0.3: terms up to 28, 2-4 terms)
    error_rate: float = 0.35  # mean probability that one trace contains a mistake
    error_concentration: float = (
        1.0  # 0 = same error rate on every problem; 1 = rate grows with the problem's hardness
    )
    word_problem_rate: float = 0.2  # share of problems phrased as a short story instead of an expression
    heldout_buckets: int = (
        20  # an expression is held out (evaluation only) when its hash falls in 1 of this many
    )
    # relative weights of the error types when a trace has a mistake
    error_types: dict[str, float] = field(
        default_factory=lambda: {
            "dropped_carry": 1.0,
            "column_slip": 1.0,
            "copy_slip": 1.0,
            "sign_slip": 1.0,
            "wrong_precedence": 1.0,
            "dropped_term": 1.0,
            "stop_early": 0.5,
            "truncated": 0.5,
        }
    )
    seed: int = 1234
    # column: mistakes in the column work (the default); shortcut: a step with column work is written without it
    # with probability shortcut_rate and is then wrong with probability shortcut_error_rate (redi.data.synthetic.shortcut)
    task: str = "column"
    shortcut_rate: float = 0.3
    shortcut_error_rate: float = 0.6


@dataclass
class BuilderConfig:
    """The paper's rules turning teacher traces into D_SFT and D_Pref (redi.data.builder)."""

    require_valid: bool = True  # keep problem_is_valid == "yes" when the column exists
    drop_sources: list[str] = field(default_factory=lambda: ["cn_k12"])
    shuffle_seed: int = 42
    verifiers: str = "both"  # both | math_verify | llama
    null_verdict: str = "other"  # how a null llama verdict counts: other (use math-verify's) | incorrect
    require_complete: bool = False  # keep only traces with is_reasoning_complete
    max_prompt_tokens: int = 800
    max_response_tokens: int = 19000
    decontaminate: bool = True
    decontamination_ngram: int = 8
    max_rows: int | None = None  # take at most this many rows of the source (after loading), for quick runs
    # D_Pref's prompt/response limits also cut D_SFT (the paper: D_SFT is limited only by the SFT max length)
    sft_length_limits: bool = False
    # how lengths are counted: paper (the chat template applied to the one message, +1, as the paper's
    # study_length_distribution.py) | text (the raw text's tokens)
    length_count: str = "paper"
    swap_pairs: bool = (
        False  # label-inversion control: D_Pref's chosen is the incorrect trace, rejected the correct
    )


@dataclass
class SelfGeneratedConfig:
    """On-policy data (redi.data.self_generated): D_Pref and an RFT D_SFT from a model's own graded samples.

    The problems are the task's training problems (the rest of the data block: its D_SFT after the builder's
    filters and decontamination); ``model`` samples ``num_samples`` responses per problem, eval.grader grades them.
    """

    enabled: bool = False
    model: str = "stage1"  # "stage1" (the cached stage-1 model) or a model.init_from-style path / hub id
    num_samples: int = 4  # k responses per problem
    temperature: float = 1.0  # 1.0 / top_p 1.0: the policy's own distribution (on-policy)
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0
    batch_size: int = 64  # sequences per generate call (the hf engine's samples depend on it)
    engine: str | None = None  # hf | vllm; null = eval.engine
    max_problems: int | None = 2000  # the first N training problems (the builder's order); null = all
    pairs_per_problem: int = 1  # pairs (i-th distinct correct, i-th distinct incorrect) per problem
    sft_per_problem: int = 1  # distinct correct samples per problem in the RFT D_SFT
    drop_truncated: bool = False  # samples that hit max_new_tokens are neither chosen, rejected nor in D_SFT


@dataclass
class DataConfig:
    """Where teacher traces come from, how they become training rows and how rows become batches."""

    source: str = "synthetic"  # synthetic | hub | local
    hub_id: str | None = None
    hub_config: str | None = None
    hub_revision: str | None = (
        None  # a commit or tag of the hub dataset; pins what the build cache is keyed by
    )
    split: str = "train"
    path: str | None = None  # local jsonl / json / parquet for source=local
    column_map: dict[str, str] = field(default_factory=dict)  # dataset column -> the format's name
    # auto (detected from the columns) | openr1 | trl_preference | trl_prompt_completion (redi.data.formats)
    format: str = "auto"
    synthetic: SyntheticTeacherConfig = field(default_factory=SyntheticTeacherConfig)
    builder: BuilderConfig = field(default_factory=BuilderConfig)
    self_generated: SelfGeneratedConfig = field(default_factory=SelfGeneratedConfig)
    prompt_template: str = "{problem}"  # the user turn; the paper trains on the raw problem text
    max_length: int = 1024  # prompt + response tokens; longer rows are truncated
    truncation: str = "keep_end"  # keep_end (the paper) | keep_start | drop
    batching: str = "grouped"  # grouped (by length in a shuffled window) | random | sequential (file order) | token_budget
    group_window: int = 64  # batches per shuffled window when grouping by length
    max_tokens_per_batch: int | None = None  # for batching=token_budget
    num_workers: int = 0
    # a local data file, or one row of it, larger than this is refused before it is parsed (memory stays bounded)
    max_file_mb: float = 4096.0
    max_row_mb: float = 4.0


# ---------------------------------------------------------------------------------------------------------------
# trainer


@dataclass
class CollapseConfig:
    """The paper's collapse: the likelihoods fall fast while accuracy drops (redi.loop.collapse).

    rule=relative (default): averaged over the last ``window`` steps, the chosen trace's log-loss (minus the mean
    per-token log-prob) is more than ``loss_ratio`` times its average over the first ``window`` steps. rule=absolute:
    both per-token log-probs are more than ``logp_drop`` nats below their first-window averages. Either way, when
    ``require_accuracy_drop``, the latest evaluation must also be more than ``accuracy_drop`` below the run's best
    (step 0 included). ``stop`` ends the run as ``collapsed`` when the rule fires.
    """

    enabled: bool = True
    rule: str = "relative"  # relative | absolute
    window: int = 5
    loss_ratio: float = 2.0
    logp_drop: float = 1.0
    require_accuracy_drop: bool = True
    accuracy_drop: float = 0.05
    stop: bool = True


@dataclass
class TrainerConfig:
    """One explicit loop: AdamW, warmup then linear decay, accumulation, clipping, checkpoints, resume."""

    epochs: float = 1.0
    max_steps: int = -1  # > 0 caps the number of optimizer steps
    micro_batch_size: int = 32  # per device
    grad_accum_steps: int = 1  # global batch = micro_batch_size * grad_accum_steps * world_size
    warmup_ratio: float = 0.1
    weight_decay: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    scheduler: str = "linear"  # any name transformers.get_scheduler knows
    log_every: int = 1
    save_every: int = 50
    keep_checkpoints: int = 2
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16
    threads: int | None = None  # torch intra-op threads on CPU; null leaves torch's default
    track_update_norm: bool = True
    # how a micro-batch's sequences go through the model (redi.loop.microbatch): auto (packed with FlashAttention,
    # else padded) | padded (length-sorted forwards) | packed | single (one padded forward) | plain (one forward,
    # full logits: the unoptimised reference)
    forward: str = "auto"
    forward_max_tokens: int | None = None  # cap on the token slots of one forward (activation memory)
    progress_bar: bool = True
    distributed: str = "auto"  # auto (ddp when world size > 1) | ddp | fsdp
    wait_for_lock: bool = False  # another process holds the run directory: wait for it (true) or stop (false)
    collapse: CollapseConfig = field(default_factory=CollapseConfig)


@dataclass
class StageOneConfig:
    """How the stage-1 SFT model is built when ``model.init_from`` is "stage1" (cached by what determines it)."""

    lr: float = 3e-3
    epochs: float = 2.0
    micro_batch_size: int = 32
    grad_accum_steps: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 1e-4
    # the tiny model from scratch learns far faster with cosine decay and beta2 0.95 (docs/synthetic_teacher.md);
    # the paper's stage 1 (conf/experiment/paper_*) is linear and 0.999
    scheduler: str = "cosine"
    adam_beta2: float = 0.95
    seed: int = 42


# ---------------------------------------------------------------------------------------------------------------
# eval


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
    extraction: str = "boxed"  # boxed (last \boxed{}) | latex_expr (Math-Verify's default extraction)
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
    # final evaluation uses the benchmark's own limit (e.g. curves on 300, final checkpoint on 1,000); null = same
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


# ---------------------------------------------------------------------------------------------------------------
# logger, experiment, sweep, paths


@dataclass
class LoggerConfig:
    """W&B and the run directory's metrics.jsonl; mode null = WANDB_MODE, else online with credentials, else offline."""

    wandb_mode: str | None = None  # online | offline | disabled
    project: str = "redi"
    entity: str | None = None
    group: str | None = None  # defaults to the sweep's name
    tags: list[str] = field(default_factory=list)
    name: str | None = None  # null: the run directory's short name
    log_model: str = (
        "online"  # the final model as a W&B artifact: online (when W&B is online) | always | never
    )


@dataclass
class ExperimentConfig:
    """A named set of overrides (an ``experiment/*.yaml`` file), recorded with the run."""

    name: str = "default"
    description: str = ""


@dataclass
class SweepConfig:
    """A named sweep (a ``sweep/*.yaml`` file); its name is the W&B group and the sweep directory."""

    name: str = "${now:%Y-%m-%d_%H-%M-%S}"
    description: str = ""


@dataclass
class HubConfig:
    """Push the final model (merged weights, tokenizer, adapter if any, model card) to the Hugging Face hub.

    repo_id: "org/name" on the hub, or a local directory / file:// URL to write the same files to instead.
    endpoint: another hub endpoint (a mirror or a private hub); null = huggingface_hub's default.
    """

    push: bool = False
    repo_id: str | None = None
    private: bool = True
    revision: str | None = None  # branch to push to; null = main
    endpoint: str | None = None
    commit_message: str = "Upload model trained with redi"


@dataclass
class PathsConfig:
    runs_dir: str = "runs"
    cache_dir: str = "${oc.env:REDI_CACHE_DIR,.cache/redi}"


# ---------------------------------------------------------------------------------------------------------------
# root


@dataclass
class BaseConfig:
    """The composed configuration of one run, without the objectives' root keys (see :data:`Config`)."""

    objective: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    stage1: StageOneConfig = field(default_factory=StageOneConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    lr: float = 2e-5  # stage 2 on the embedded default: stable for every objective (README, the ablation)
    seed: int = 42
    # train (then evaluate) | eval (evaluate model.init_from only) | stage1 (build stage 1 only)
    mode: str = "train"


def _with_root_keys() -> type:
    """BaseConfig plus one optional root key per hyperparameter any objective declares (alpha, beta, gamma, ...).

    Root keys let sweeps read as in the paper (``alpha=0.2,0.8``); the chosen objective's YAML sets its defaults
    and every other one stays null (validate() rejects a root key the objective does not use).
    """
    from redi.objectives import root_hyperparameters

    keys = [(k, Optional[float], field(default=None)) for k in root_hyperparameters()]  # noqa: UP045 (OmegaConf)
    return make_dataclass("Config", keys, bases=(BaseConfig,))


Config = _with_root_keys()


def register_configs() -> None:
    """Put every schema into Hydra's ConfigStore (idempotent)."""
    from redi.objectives import OBJECTIVES

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=_open_benchmarks(Config))
    for name, spec in OBJECTIVES.items():  # conf/objective/<name>.yaml: [/schema/objective@_global_: <name>]
        cs.store(group="schema/objective", name=name, node=objective_node(spec))
    for group, node in {
        "model": ModelConfig,
        "data": DataConfig,
        "trainer": TrainerConfig,
        "eval": EvalConfig,
        "logger": LoggerConfig,
        "experiment": ExperimentConfig,
        "sweep": SweepConfig,
    }.items():
        cs.store(group=group, name=f"base_{group}", node=_open_benchmarks(node) if group == "eval" else node)


def _open_benchmarks(schema: type) -> Any:
    """The schema as a config whose ``eval.benchmarks`` accepts new names (Hydra makes the rest struct)."""
    from omegaconf import OmegaConf

    node = OmegaConf.structured(schema)
    benchmarks = node.benchmarks if schema is EvalConfig else node.eval.benchmarks
    benchmarks._set_flag("struct", False)
    return node
