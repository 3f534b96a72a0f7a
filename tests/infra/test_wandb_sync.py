"""``redi sync``: every offline W&B run under a sweep directory, plus the stage-1 runs its members started from."""

from __future__ import annotations

import json

from omegaconf import OmegaConf

from redi.infra.wandb_names import wandb_identity
from redi.infra.wandb_sync import find_runs, main


def _run(run_dir, *ids, stage1=None):
    for i in ids:
        (run_dir / "wandb" / f"offline-run-2026_{i}").mkdir(parents=True)
    status = {"state": "completed", **({"stage1_dir": str(stage1)} if stage1 else {})}
    (run_dir / "status.json").write_text(json.dumps(status))


def test_a_sweep_syncs_its_members_their_resumed_parts_and_stage1(tmp_path, capsys):
    stage1 = tmp_path / "cache" / "stage1" / "abc123"
    _run(stage1, "s1")
    sweep = tmp_path / "runs" / "sweeps" / "alphas"
    _run(sweep / "redi_a0.2", "a", "a-resumed", stage1=stage1)
    _run(sweep / "redi_a0.8", "b", stage1=stage1)
    (sweep / "members.tsv").write_text("index\n")
    found = find_runs([sweep])
    assert sorted(p.name for p in found) == sorted(
        f"offline-run-2026_{i}" for i in ("a", "a-resumed", "b", "s1")
    )
    assert main([str(sweep), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 4 and "4 offline W&B run(s)" in out.err
    assert main([str(tmp_path / "nope")]) == 2


def test_names_and_groups():
    cfg = OmegaConf.create(
        {"experiment": {"name": "smoke"}, "logger": {"name": None, "group": None}, "sweep": {"name": "t"}}
    )
    assert wandb_identity(cfg, "runs/single/redi_a0.8", "redi") == ("redi_a0.8", "experiment:smoke", "redi")
    cfg.experiment.name = "stage1"
    assert wandb_identity(cfg, ".cache/redi/stage1/0123456789ab", "sft") == (
        "stage1_01234567",
        "stage1",
        "stage1",
    )


def test_the_final_model_is_a_wandb_artifact_logged_offline_too(tmp_path):
    import wandb

    from redi.infra.tracking import Tracker

    wandb.teardown()  # a W&B service an earlier in-process test ended must not carry this run: start a fresh one
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    tracker = Tracker(tmp_path)
    tracker.start_wandb(mode="offline", project="redi", entity=None, group="g", job_type="redi", name="r",
                        tags=[], config={}, run_id=None)  # fmt: skip
    assert not tracker.log_model(model, "model-r")  # "online" is the default: nothing logged offline
    assert tracker.log_model(model, "model-r", "always")
    run_dir = next((tmp_path / "wandb").glob("offline-run-*"))
    tracker.finish()
    data = b"".join(p.read_bytes() for p in run_dir.glob("*.wandb"))
    assert b"model-r" in data  # the artifact record is in the offline run, uploaded by redi sync
