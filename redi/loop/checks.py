"""Checks of the training loop's settings (the trainer block and stage 1's), run by redi.validate before any import.

Kept free of torch: the pre-flight must reject a typo in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redi.config.checks import Checks

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
    c.number("threads", low=1, integer=True, optional=True, hint="null trains stage 1 with trainer.threads")


def collapse_rule_notes(cfg: Any, needs_pairs: bool) -> list[str]:
    """What the collapse rule cannot see with this evaluation schedule (warnings, not errors), for a training run.

    The rule's accuracy condition compares the latest evaluation with the best one before it (step 0 included),
    so it needs an evaluation before the fall: without a step-0 evaluation a run that falls from its start is only
    flagged if it falls further after its first evaluation, and with a single evaluation the rule cannot fire.
    """
    rule, ev = cfg.trainer.collapse, cfg.eval
    if cfg.mode != "train" or not needs_pairs or not rule.enabled or not rule.require_accuracy_drop:
        return []
    at_start = bool(ev.at_start) and bool(ev.benchmarks)
    every = int(ev.every_n_steps or 0) if ev.benchmarks else 0
    if at_start:
        return []
    if every == 0:
        return [
            "trainer.collapse: the collapse rule cannot fire in this run: its accuracy condition compares an "
            "evaluation with an earlier one, and the run evaluates only at its end (eval.at_start=false, "
            "eval.every_n_steps=0); set eval.at_start=true, or trainer.collapse.require_accuracy_drop=false"
        ]
    return [
        f"trainer.collapse: no evaluation at step 0 (eval.at_start=false): the accuracy condition compares with the "
        f"best evaluation from step {every} on, so a run already falling by then may not be flagged; set "
        "eval.at_start=true"
    ]
