"""The norm of the last AdamW update, from the optimizer's own state instead of a copy of the weights.

AdamW (decoupled weight decay, no amsgrad) moves a parameter p_old to
p_new = p_old - lr * (wd * p_old + m_hat / (sqrt(v_hat) + eps)), m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
With u = m_hat / (sqrt(v_hat) + eps) (known after the step), p_old = (p_new + lr * u) / (1 - lr * wd), so the update
p_new - p_old = -lr * (u + wd * p_old) is computed a slice of at most SLICE elements at a time: the temporary
memory is a few slices, not a second copy of the model (nor three copies of the largest parameter: at Qwen2.5's
shape the 233 M-element embedding would take 2.8 GB of fp32 temporaries), and it is exact (no cancellation of
p_new - p_old in fp32). A sharded (FSDP2) parameter is this rank's shard, taken whole.
"""

from __future__ import annotations

import torch


def _square_sum(t: torch.Tensor) -> torch.Tensor:
    total = t.float().pow(2).sum()
    full = getattr(total, "full_tensor", None)  # a sharded DTensor: sum over every rank's shard
    return full() if callable(full) else total


SLICE = 1 << 22  # elements per slice of a parameter (16 MB in fp32)


@torch.no_grad()
def adamw_update_norm(optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """L2 norm (a 0-dim tensor, no host sync) of the update the last ``optimizer.step()`` applied.

    Call it after the step and before the scheduler changes the lr. Parameters without state (no gradient yet)
    did not move.
    """
    total = None
    for group in optimizer.param_groups:
        lr, wd, eps = float(group["lr"]), float(group["weight_decay"]), float(group["eps"])
        b1, b2 = group["betas"]
        if group.get("amsgrad"):
            raise ValueError("adamw_update_norm: amsgrad is not supported")
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state or "exp_avg" not in state:
                continue
            step = state[
                "step"
            ]  # a device tensor for the fused kernel: used as one, so the GPU is not synced
            step = step if torch.is_tensor(step) and step.device.type != "cpu" else float(step)
            coefficients = (lr, wd, eps, b1, b2, step)
            for sq in _slice_squares(p, state["exp_avg"], state["exp_avg_sq"], coefficients):
                total = sq if total is None else total + sq
    return torch.zeros(()) if total is None else total.sqrt()


def _slice_squares(
    p: torch.Tensor, m: torch.Tensor, v: torch.Tensor, coefficients: tuple
) -> list[torch.Tensor]:
    """Squared norms of the update of ``p`` (moments ``m``, ``v``), one per slice of at most SLICE elements."""
    if hasattr(p, "full_tensor") or p.numel() <= SLICE:  # a DTensor shard, or small: whole
        return [_square_sum(_update(p, m, v, *coefficients))]
    flat = [t.detach().reshape(-1) for t in (p, m, v)]
    return [
        _square_sum(_update(*(t[start : start + SLICE] for t in flat), *coefficients))
        for start in range(0, flat[0].numel(), SLICE)
    ]


def _update(p, m, v, lr, wd, eps, b1, b2, step) -> torch.Tensor:
    """-lr (u + wd p_old) for weights ``p`` after the step, u = m_hat / (sqrt(v_hat) + eps)."""
    u = v.div(1 - b2**step).sqrt_().add_(eps)
    u = torch.div(m, u).div_(1 - b1**step)
    p_old = (p + lr * u) / (1 - lr * wd) if wd else None
    return u.mul_(-lr) if p_old is None else u.add_(p_old, alpha=wd).mul_(-lr)
