"""``trainer.*`` (the loop and its collapse rule) and ``stage1.*`` (the cached SFT stage preference runs start from)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    compile: bool = (
        False  # torch.compile each decoder layer (redi.model.kernels): faster steps after a compile
    )
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
    # torch CPU threads while this process trains stage 1 (null: trainer.threads). Not part of its cache key. The
    # main job trains its run and control one thread each, but stage 1 alone (the control waits for it): 2 threads.
    threads: int | None = None
