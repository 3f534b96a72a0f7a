"""Run directory names, the runs/index.tsv index, and the clean-up of a rejected config's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from redi.infra.run_names import discard_fresh, open_run_directory, read_index, record_run, run_name

GROUPS = ["objective", "model", "data", "trainer", "eval", "logger", "experiment", "sweep"]


def test_root_keys_read_as_short_tokens_without_a_hash():
    assert run_name("redi", ["alpha=0.8", "lr=2e-5"], GROUPS) == "redi_a0.8_lr2e-5"
    assert run_name("redi", [], GROUPS) == "redi"
    assert run_name("dpo", ["objective=dpo", "beta=0.1", "seed=3"], GROUPS) == "dpo_b0.1_s3"


def test_order_does_not_matter_and_groups_come_first():
    a = run_name("redi", ["lr=1e-4", "experiment=smoke", "alpha=0.2"], GROUPS)
    b = run_name("redi", ["alpha=0.2", "lr=1e-4", "experiment=smoke"], GROUPS)
    assert a == b == "redi_smoke_a0.2_lr1e-4"


def test_other_overrides_become_one_stable_hash():
    name = run_name("redi", ["experiment=smoke", "trainer.max_steps=8", "model.init_from=/a/b=c,d"], GROUPS)
    assert name.startswith("redi_smoke_h") and len(name) == len("redi_smoke_h") + 8
    assert "/" not in name and "=" not in name and "," not in name
    assert name == run_name(
        "redi", ["model.init_from=/a/b=c,d", "trainer.max_steps=8", "experiment=smoke"], GROUPS
    )
    assert name != run_name(
        "redi", ["experiment=smoke", "trainer.max_steps=9", "model.init_from=/a/b=c,d"], GROUPS
    )


def test_overrides_that_do_not_change_the_run_are_left_out():
    assert run_name(
        "redi", ["alpha=0.8", "logger=off", "trainer.progress_bar=false", "sweep.name=x"], GROUPS
    ) == ("redi_a0.8")


def test_a_value_that_does_not_read_well_is_hashed_not_written():
    name = run_name("redi", ["lr=${oc.env:LR}"], GROUPS)
    assert name.startswith("redi_h") and "$" not in name


def test_very_long_names_are_cut_and_hashed_in_full():
    overrides = [f"seed={'1' * 30}", f"alpha={'0.' + '5' * 40}", f"lr={'1' * 40}"]
    name = run_name("redi", overrides, GROUPS)
    assert len(name) <= 80 + 10
    other = run_name("redi", [*overrides[:2], f"lr={'1' * 39}2"], GROUPS)
    assert other != name


def test_index_records_a_run_once_with_its_overrides(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "single" / "redi_a0.8"
    run_dir.mkdir(parents=True)
    assert record_run(run_dir, runs, ["alpha=0.8", "trainer.max_steps=2"])
    assert not record_run(run_dir, runs, ["alpha=0.8", "trainer.max_steps=2"])
    assert not record_run(tmp_path / "elsewhere", runs, [])
    rows = read_index(runs)
    assert [(r["name"], r["path"], r["overrides"]) for r in rows] == [
        ("redi_a0.8", "single/redi_a0.8", "alpha=0.8 trainer.max_steps=2")
    ]


class Rejected(ValueError):
    pass


def _hydra_wrote(run_dir: Path) -> None:
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("a: 1\n")
    (run_dir / "run.log").write_text("starting\n")


def test_a_rejected_config_leaves_no_directory(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "single" / "redi_h0"
    _hydra_wrote(run_dir)

    def check():
        raise Rejected("alpha=2: must be in [0, 1]")

    with pytest.raises(Rejected):
        open_run_directory(run_dir, runs, ["alpha=2"], check, (Rejected,))
    assert not runs.exists()  # the run directory and the parents it left empty


def test_a_rejected_config_keeps_an_earlier_run(tmp_path):
    runs = tmp_path / "runs"
    done = runs / "single" / "redi"
    _hydra_wrote(done)
    (done / "status.json").write_text('{"state": "completed"}')
    other = runs / "single" / "redi_a2"
    _hydra_wrote(other)
    assert not discard_fresh(done, runs)
    assert discard_fresh(other, runs)
    assert done.is_dir() and not other.exists() and read_index(runs) == []


def test_an_accepted_config_is_indexed_before_it_runs(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "single" / "redi_a0.8"
    _hydra_wrote(run_dir)
    open_run_directory(run_dir, runs, ["alpha=0.8"], lambda: None, (Rejected,))
    assert [r["name"] for r in read_index(runs)] == ["redi_a0.8"]
