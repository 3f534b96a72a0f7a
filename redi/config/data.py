"""``data.*``: the teacher traces' source, the paper's builder rules, the synthetic teacher, tokenisation and batching."""

from __future__ import annotations

from dataclasses import dataclass, field

from redi.config.model import TinyArchConfig


@dataclass
class ModelTeacherConfig:
    """A teacher that is a model (``data.synthetic.teacher=model``): trained on the task's ground truth, then sampled.

    The paper's setting in miniature: a larger Qwen2 model (``arch``) is fine-tuned on correct traces of
    ``train_problems`` problems drawn with ``train_seed`` (cached like stage 1, keyed by these settings), then writes
    ``num_samples`` traces per training problem of the student at ``temperature``, graded by the project's grader
    (redi.stages.teacher). ``draw`` seeds the sampling: another draw is another teacher data set from one model.
    """

    arch: TinyArchConfig = field(
        default_factory=lambda: TinyArchConfig(
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=4,
            intermediate_size=768,
        )  # fmt: skip
    )
    train_problems: int = 10000
    train_seed: int = 777  # the ground-truth problems' seed (data.synthetic.seed draws the student's)
    lr: float = 1e-3
    epochs: float = 3.0  # 1 epoch left it at 0.24 sampled accuracy (T 1.0)
    micro_batch_size: int = 32
    warmup_ratio: float = 0.05
    seed: int = 42  # the teacher's initialisation and batch order
    num_samples: int = 4  # traces per training problem, as R1 wrote several per problem
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 192  # its traces run 68 tokens (median), 150 at most
    batch_size: int = 64
    draw: int = 0  # the sampling seed
    traces: str | None = None  # set by the teacher stage: the sampled traces file (do not set by hand)


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
    # rules: the traces are written by these rules (error_rate, error_types, ...); model: by a model trained on the
    # task's ground truth and sampled (model_teacher), its mistakes its own (redi.stages.teacher)
    teacher: str = "rules"
    model_teacher: ModelTeacherConfig = field(default_factory=ModelTeacherConfig)


@dataclass
class BuilderConfig:
    """The paper's rules turning teacher traces into D_SFT and D_Pref (redi.data.rules, redi.data.formats.openr1)."""

    require_valid: bool = True  # keep problem_is_valid == "yes" when the column exists
    drop_sources: list[str] = field(default_factory=lambda: ["cn_k12"])
    shuffle_seed: int = 42
    verifiers: str = "both"  # both | math_verify | llama
    null_verdict: str = "other"  # how a null llama verdict counts: other (use math-verify's) | incorrect
    require_complete: bool = False  # keep only traces with is_reasoning_complete
    max_prompt_tokens: int = 800
    max_response_tokens: int = 19000
    # drop a training problem sharing a word n-gram with an evaluation benchmark's; null (the default): on for hub
    # and local data, off for the synthetic teacher, which holds its evaluation problems out by construction
    decontaminate: bool | None = None
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
    path: str | None = (
        None  # source=local: a jsonl / json / parquet file, a folder of them (shards) or a glob
    )
    column_map: dict[str, str] = field(default_factory=dict)  # dataset column -> the format's name
    # auto (detected from the columns) or a format's name: openr1, trl_preference, ... (a module each in redi/data/formats/)
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
    num_workers: int = 0  # processes that count tokens and decontaminate in the data build; 0 = one per core
    # a local data file, or one row of it, larger than this is refused before it is parsed (memory stays bounded)
    max_file_mb: float = 4096.0
    max_row_mb: float = 4.0
