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


def test_large_parameters_are_taken_in_slices_with_the_same_norm(monkeypatch):
    import redi.loop.update_norm as update_norm

    torch.manual_seed(1)
    big = torch.nn.Parameter(torch.randn(37, 11, dtype=torch.float64))  # 407 elements: 4 slices of <= 128
    opt = torch.optim.AdamW([big], lr=0.05, weight_decay=0.1)
    for _ in range(2):
        big.grad = torch.randn_like(big)
        before = big.detach().clone()
        opt.step()
    whole = adamw_update_norm(opt).item()
    monkeypatch.setattr(update_norm, "SLICE", 128)
    state = opt.state[big]
    coefficients = (0.05, 0.1, 1e-8, 0.9, 0.999, float(state["step"]))  # lr, wd, eps, betas, step
    assert len(update_norm._slice_squares(big, state["exp_avg"], state["exp_avg_sq"], coefficients)) == 4
    assert adamw_update_norm(opt).item() == pytest.approx(whole, rel=1e-6)
    assert whole == pytest.approx((big - before).norm().item(), rel=1e-6)
