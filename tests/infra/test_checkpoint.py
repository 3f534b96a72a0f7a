"""Checkpoints: a round trip restores everything; a crash mid-write leaves the last good one in place."""

from __future__ import annotations

import json
import logging
import os
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from redi.infra.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from redi.infra.state_io import StateFormatError, check_dcp_metadata, load_state, save_state
from redi.infra.status import Status, StatusFileError


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

    monkeypatch.setattr("redi.infra.checkpoint.save_state", boom)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 4, model, opt, sched, {}, keep=2)
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path).name == "step_2"
    assert not list(tmp_path.glob(".step_*")) and not (tmp_path / "step_4").exists()
    load_checkpoint(latest_checkpoint(tmp_path), *make())  # still loads


def test_status_is_replaced_atomically(tmp_path):
    s = Status(tmp_path)
    s.update(state="running", step=3)
    assert Status(tmp_path).data["step"] == 3
    with pytest.raises(ValueError, match="unknown run state"):
        s.update(state="exploded")
    assert Status(tmp_path).state == "running"
    assert not list(tmp_path.glob(".*.tmp"))


# ---------------------------------------------------------------------------------------------------------------
# damaged checkpoints: detected, named in one warning, the newest intact one used


def three_checkpoints(tmp_path):
    model, opt, sched = make()
    for s in (2, 4, 6):
        step(model, opt, sched)
        save_checkpoint(tmp_path, s, model, opt, sched, {"s": s}, keep=3)
    return tmp_path / "step_6"


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def zero(path):
    path.write_bytes(b"\0" * path.stat().st_size)


def drop_tensor(path):
    tensors = load_file(str(path))
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(path))


DAMAGE = {
    "truncated weights": ("model.safetensors", truncate, "model.safetensors has"),
    "zeroed trainer state": ("trainer_state.json", zero, "trainer_state.json does not match its sha256"),
    "zeroed trainer tensors": ("trainer_state.safetensors", zero, "trainer_state.safetensors does not match"),
    "missing tensor": ("model.safetensors", drop_tensor, "model.safetensors has"),
    "deleted marker": ("manifest.json", lambda p: p.unlink(), "no manifest.json"),
    "deleted state": ("trainer_state.json", lambda p: p.unlink(), "trainer_state.json is missing"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog, kind):
    name, damage, says = DAMAGE[kind]
    newest = three_checkpoints(tmp_path)
    damage(newest / name)
    with caplog.at_level(logging.WARNING):
        chosen = latest_checkpoint(tmp_path)
    assert chosen == tmp_path / "step_4"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(newest) in warnings[0] and says in warnings[0], warnings
    assert load_checkpoint(chosen, *make())["s"] == 4


def test_deleted_latest_pointer_uses_the_newest_step_directory(tmp_path, caplog):
    three_checkpoints(tmp_path)
    (tmp_path / "latest").unlink()
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == tmp_path / "step_6"
    assert "is missing" in caplog.text


def test_every_checkpoint_damaged_starts_over_with_a_warning(tmp_path, caplog):
    three_checkpoints(tmp_path)
    for s in (2, 4, 6):
        zero(tmp_path / f"step_{s}" / "model.safetensors")
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) is None
    assert "no intact checkpoint: starting over" in caplog.text


def test_trainer_state_is_json_and_safetensors_not_pickle(tmp_path):
    newest = three_checkpoints(tmp_path)
    assert sorted(p.name for p in newest.iterdir()) == [
        "manifest.json",
        "model.safetensors",
        "trainer_state.json",
        "trainer_state.safetensors",
    ]
    manifest = json.loads((newest / "manifest.json").read_text())
    assert manifest["step"] == 6 and set(manifest["files"]) == {
        "model.safetensors",
        "trainer_state.json",
        "trainer_state.safetensors",
    }


class _Payload:
    """Unpickling this runs a shell command that creates a file: what a crafted trainer_state.pt would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_in_a_checkpoint_does_not_run(tmp_path, caplog):
    """An old-format checkpoint whose trainer_state.pt carries code: refused and skipped, the code never runs."""
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "ckpt"
    model, opt, sched = make()
    for s in (2, 4):
        save_checkpoint(ckpt, s, model, opt, sched, {"s": s}, keep=2)
    target = ckpt / "step_4"
    for name in ("manifest.json", "trainer_state.json", "trainer_state.safetensors"):
        (target / name).unlink()
    torch.save({"optimizer": _Payload(marker)}, target / "trainer_state.pt")  # a format-1 checkpoint's layout
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(ckpt) == ckpt / "step_2"
    assert f"{target}: trainer_state.pt is refused: its pickle asks for GLOBAL posix.system" in caplog.text
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(target, *make())
    assert not marker.exists()


def test_a_format_1_checkpoint_still_loads(tmp_path):
    """A trainer_state.pt of plain tensors, numbers and numpy RNG arrays passes the weights-only check and loads."""
    ckpt = tmp_path / "ckpt"
    model, opt, sched = make()
    step(model, opt, sched)
    save_checkpoint(ckpt, 2, model, opt, sched, {"s": 2}, keep=2)
    target = ckpt / "step_2"
    torch.save(load_state(target / "trainer_state"), target / "trainer_state.pt")
    for name in ("manifest.json", "trainer_state.json", "trainer_state.safetensors"):
        (target / name).unlink()
    assert latest_checkpoint(ckpt) == target
    assert load_checkpoint(target, *make())["s"] == 2


def test_state_files_round_trip_every_kind_of_value(tmp_path):
    value = {
        "ints": {0: 1, 1: (2, 3)},
        "rng": np.random.get_state(),
        "t": torch.arange(3.0),
        "scalar": torch.tensor(1.5),
        "f": [float("inf"), 0.25, None, "x", True],
        "__odd": 1,
    }
    save_state(tmp_path / "s", value)
    back = load_state(tmp_path / "s")
    assert back["ints"] == {0: 1, 1: (2, 3)} and back["f"][1:] == [0.25, None, "x", True]
    assert back["f"][0] == float("inf") and back["__odd"] == 1
    assert back["rng"][0] == "MT19937" and back["rng"][1].dtype == np.uint32
    assert np.array_equal(back["rng"][1], value["rng"][1]) and back["rng"][2:] == value["rng"][2:]
    assert torch.equal(back["t"], value["t"]) and torch.equal(back["scalar"], value["scalar"])


def test_dcp_metadata_with_foreign_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / ".metadata"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(StateFormatError, match="refusing posix.system"):
        check_dcp_metadata(path)
    assert not marker.exists()


def test_an_invalid_status_file_is_named(tmp_path):
    (tmp_path / "status.json").write_text('{"state": "runn')
    with pytest.raises(StatusFileError, match=f"{tmp_path / 'status.json'} is not valid JSON"):
        Status(tmp_path)
    (tmp_path / "status.json").write_text("[1, 2]")
    with pytest.raises(StatusFileError, match="holds no run state"):
        Status(tmp_path)


def test_two_status_writers_do_not_undo_each_other(tmp_path):
    a, b = Status(tmp_path), Status(tmp_path)
    a.update(state="running", step=1)
    b.warn("W&B went offline")
    a.update(step=2)
    data = Status(tmp_path).data
    assert data["step"] == 2 and data["warnings"] == ["W&B went offline"] and data["state"] == "running"
