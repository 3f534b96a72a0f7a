"""The AdamW update norm from the optimizer's state equals the norm of (weights after - weights before)."""

from __future__ import annotations

import pytest
import torch

from redi.loop.update_norm import adamw_update_norm


@pytest.mark.parametrize("kw", [{"foreach": True}, {"foreach": False}, {"fused": True}])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_equals_the_difference_of_copies(kw, weight_decay):
    torch.manual_seed(0)
    params = [
        torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64)),
        torch.nn.Parameter(torch.randn(4, dtype=torch.float64)),
    ]
    frozen = torch.nn.Parameter(torch.randn(2, dtype=torch.float64))  # never gets a gradient
    opt = torch.optim.AdamW(
        [{"params": params, "weight_decay": weight_decay}, {"params": [frozen], "weight_decay": 0.0}],
        lr=0.05,
        **kw,
    )
    for _ in range(3):
        for p in params:
            p.grad = torch.randn_like(p)
        before = [p.detach().clone() for p in params]
        opt.step()
        expected = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(params, before, strict=True)))
        # squares are summed in fp32 (as for the gradient norm), hence float32 precision
        assert adamw_update_norm(opt).item() == pytest.approx(expected.item(), rel=1e-6)
