"""Checks of the training loop's settings (the trainer block and stage 1's), run by redi.validate before any import.

Kept free of torch: the pre-flight must reject a typo in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redi.validate import Checks

# the schedules transformers.get_scheduler builds from (warmup, total steps) alone, as the loop calls it
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt")  # fmt: skip


def check_optimization(c: Checks) -> None:
    """Keys the trainer block and the stage1 block share: batch, schedule, AdamW."""
    c.number("epochs", low=0, low_open=True)
    c.number("micro_batch_size", low=1, integer=True)
    c.number("grad_accum_steps", low=1, integer=True)
    c.number("warmup_ratio", low=0, high=1)
    c.number("weight_decay", low=0)
    c.choice("scheduler", SCHEDULERS)
    c.number("adam_beta2", low=0, high=1, high_open=True)


def check_trainer(c: Checks) -> None:
    """The trainer block: loop, clipping, checkpoints, device, collapse rule."""
    check_optimization(c)
    c.number("adam_beta1", low=0, high=1, high_open=True)
    c.number("adam_eps", low=0, low_open=True)
    if c.get("max_steps") != -1:
        c.number("max_steps", low=1, integer=True, hint="-1 for no cap")
    c.number("max_grad_norm", low=0, hint="0 turns clipping off")
    c.number("log_every", low=1, integer=True)
    c.number("save_every", low=1, integer=True)
    c.number("keep_checkpoints", low=1, integer=True)
    c.number("threads", low=1, integer=True, optional=True, hint="null keeps torch's default")
    c.choice("precision", ("fp32", "bf16"))
    c.choice("device", ("auto", "cpu", "cuda"))
    c.choice("distributed", ("auto", "ddp", "fsdp"))
    c.choice("forward", ("auto", "padded", "packed", "single", "plain"))
    c.number("forward_max_tokens", low=1, integer=True, optional=True, hint="null for no cap")
    from redi.loop.collapse import validate_collapse_config

    c.guard(lambda: validate_collapse_config(c.get("collapse")), ValueError)


def check_stage1(c: Checks) -> None:
    """The stage1 block (how the cached stage-1 model is trained): named ``stage1.*``, as typed."""
    check_optimization(c)
    c.number("lr", low=0, low_open=True)
    c.number("seed", low=0, integer=True)
