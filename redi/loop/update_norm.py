"""The norm of the last AdamW update, from the optimizer's own state instead of a copy of the weights.

AdamW (decoupled weight decay, no amsgrad) moves a parameter p_old to
p_new = p_old - lr * (wd * p_old + m_hat / (sqrt(v_hat) + eps)), m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
With u = m_hat / (sqrt(v_hat) + eps) (known after the step), p_old = (p_new + lr * u) / (1 - lr * wd), so the update
p_new - p_old = -lr * (u + wd * p_old) is computed one parameter at a time: the temporary memory is one parameter,
not a second copy of the model, and it is exact (no cancellation of p_new - p_old in fp32).
"""

from __future__ import annotations

import torch


def _square_sum(t: torch.Tensor) -> torch.Tensor:
    total = t.float().pow(2).sum()
    full = getattr(total, "full_tensor", None)  # a sharded DTensor: sum over every rank's shard
    return full() if callable(full) else total


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
            u = state["exp_avg_sq"].div(1 - b2**step).sqrt_().add_(eps)
            u = torch.div(state["exp_avg"], u).div_(1 - b1**step)
            p_old = (p + lr * u) / (1 - lr * wd) if wd else None
            delta = u.mul_(-lr) if p_old is None else u.add_(p_old, alpha=wd).mul_(-lr)
            sq = _square_sum(delta)
            total = sq if total is None else total + sq
    return torch.zeros(()) if total is None else total.sqrt()
