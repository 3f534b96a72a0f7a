"""Checkpoints: a round trip restores everything; a crash mid-write leaves the last good one in place."""

from __future__ import annotations

import pytest
import torch

from redi.infra.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from redi.infra.status import Status


def make():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    return model, opt, sched


def step(model, opt, sched):
    model(torch.randn(4, 3)).pow(2).sum().backward()
    opt.step()
    sched.step()
    opt.zero_grad()


def test_round_trip_continues_identically(tmp_path):
    model, opt, sched = make()
    step(model, opt, sched)
    save_checkpoint(tmp_path, 1, model, opt, sched, {"collapse": {"x": 1}}, keep=2)
    step(model, opt, sched)
    expected = model.weight.detach().clone()

    model2, opt2, sched2 = make()
    loop = load_checkpoint(latest_checkpoint(tmp_path), model2, opt2, sched2)
    assert loop == {"collapse": {"x": 1}, "step": 1}
    step(model2, opt2, sched2)  # the RNG state was restored too, so the same batch is drawn
    assert torch.equal(model2.weight, expected)


def test_keeps_only_the_newest(tmp_path):
    model, opt, sched = make()
    for s in (2, 4, 6):
        save_checkpoint(tmp_path, s, model, opt, sched, {}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_4", "step_6"]
    assert latest_checkpoint(tmp_path).name == "step_6"


def test_crash_while_writing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model, opt, sched = make()
    save_checkpoint(tmp_path, 2, model, opt, sched, {}, keep=2)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 4, model, opt, sched, {}, keep=2)
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path).name == "step_2"
    load_checkpoint(latest_checkpoint(tmp_path), *make())  # still loads


def test_status_is_replaced_atomically(tmp_path):
    s = Status(tmp_path)
    s.update(state="running", step=3)
    assert Status(tmp_path).data["step"] == 3
    with pytest.raises(ValueError, match="unknown run state"):
        s.update(state="exploded")
    assert Status(tmp_path).state == "running"
    assert not list(tmp_path.glob(".*.tmp"))
