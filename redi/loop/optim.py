"""AdamW (no weight decay on biases and norms), the warmup-then-decay schedule, and gradient clipping."""

from __future__ import annotations

import logging
import math

import torch
from transformers import get_scheduler

from redi.config import TrainerConfig
from redi.loop.precision import warn_on_rounded_updates

log = logging.getLogger(__name__)


def build_optimizer(model: torch.nn.Module, cfg: TrainerConfig, lr: float, total_steps: int):
    """(optimizer, scheduler) for ``model``'s trainable parameters over ``total_steps`` optimizer steps.

    AdamW's moments take the dtype of the parameters: fp32 master weights give fp32 moments (redi.loop.precision).
    """
    warn_on_rounded_updates(model, lr)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
        **_kernel(model),
    )
    warmup = warmup_steps(cfg.warmup_ratio, total_steps)
    scheduler = get_scheduler(
        cfg.scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps
    )
    return optimizer, scheduler


def warmup_steps(warmup_ratio: float, total_steps: int) -> int:
    """Warmup steps, rounded up as Hugging Face's Trainer does, but never every step of the run.

    The warmup's first step has lr 0, so a run whose warmup covered all its steps (a 1-step run at any ratio > 0,
    or warmup_ratio 1) would not train at all; such a run warms up over all but its last step instead, said in the log.
    """
    warmup = math.ceil(warmup_ratio * total_steps)
    if warmup >= total_steps > 0:
        log.warning(
            "trainer.warmup_ratio=%g covers all %d optimizer steps, and warmup starts at lr 0: warming up over %d "
            "instead, so the last step trains at the full lr",
            warmup_ratio,
            total_steps,
            total_steps - 1,
        )
        return total_steps - 1
    return warmup


def _kernel(model: torch.nn.Module) -> dict[str, bool]:
    """The fused AdamW kernel on GPUs, the multi-tensor (foreach) one elsewhere: same update, fewer launches."""
    devices = {p.device.type for p in model.parameters() if p.requires_grad}
    return {"fused": True} if devices == {"cuda"} else {"foreach": True}


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Total gradient norm before clipping, a 0-dim tensor on the device (clipping only when max_norm > 0)."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(grads, max_norm, foreach=True)
    return torch.nn.utils.get_total_norm([p.grad for p in grads], foreach=True)
