"""The warmup never covers a whole run: a 1-step run trains at its lr, not at the warmup's lr 0."""

from __future__ import annotations

import pytest
import torch

from redi.config import TrainerConfig
from redi.loop.optim import build_optimizer, warmup_steps


@pytest.mark.parametrize(
    ("ratio", "total", "expected"),
    [(0.1, 117, 12), (0.1, 10, 1), (0.0, 5, 0), (0.1, 1, 0), (1.0, 4, 3), (0.5, 2, 1)],
)
def test_warmup_steps_round_up_but_leave_the_last_step(ratio: float, total: int, expected: int) -> None:
    assert warmup_steps(ratio, total) == expected


def test_a_one_step_run_moves_the_weights_at_its_lr() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 4)
    before = model.weight.detach().clone()
    cfg = TrainerConfig(warmup_ratio=0.1, scheduler="linear", weight_decay=0.0)
    optimizer, scheduler = build_optimizer(model, cfg, lr=1e-2, total_steps=1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    # AdamW's first step moves each entry by lr (the normalised gradient is +-1 where the gradient is non-zero)
    assert (before - model.weight.detach()).abs().max().item() == pytest.approx(1e-2, rel=1e-3)
