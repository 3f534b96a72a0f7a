"""A run is its resolved config: a directory is reused only by a run of the same config, and never written over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from redi.infra.run_identity import (
    RunIdentityError,
    check_directory,
    differences,
    digest,
    directory_name,
    identity,
    record_config,
)


def config(**trainer):
    return OmegaConf.create(
        {
            "lr": 2e-5,
            "stage1": {"lr": 1e-4},
            "sft_lr": "${stage1.lr}",
            "trainer": {"max_steps": 8, "progress_bar": True, **trainer},
            "logger": {"wandb_mode": "offline"},
            "paths": {"runs_dir": "runs"},
            "sweep": {"name": "${now:%H-%M-%S}"},
        }
    )


def start(run_dir: Path, cfg, state: str = "completed") -> None:
    """A run directory as redi leaves it: its config recorded, a status and metrics."""
    record_config(run_dir, OmegaConf.to_yaml(cfg), "hydra: {}\n", "[]\n")
    (run_dir / "status.json").write_text(json.dumps({"state": state}))
    (run_dir / "metrics.jsonl").write_text('{"step": 1}\n')


def test_identity_is_the_resolved_config_without_where_and_how_it_reports():
    a = identity(config())
    assert a == {"lr": 2e-5, "stage1": {"lr": 1e-4}, "sft_lr": 1e-4, "trainer": {"max_steps": 8}}
    assert identity(config(progress_bar=False)) == a  # how it reports progress is not the run
    assert identity(OmegaConf.create(OmegaConf.to_yaml(config()))) == a  # as .hydra/config.yaml reads back
    assert digest(identity(config(max_steps=6))) != digest(a)


def test_a_changed_config_gets_a_directory_of_its_own(tmp_path):
    assert directory_name(tmp_path, "redi", config()) == "redi"  # free
    start(tmp_path / "redi", config(), state="interrupted")
    assert directory_name(tmp_path, "redi", config(progress_bar=False)) == "redi"  # the same run: resumes
    edited = config(max_steps=6)
    own = f"redi_c{digest(identity(edited))}"
    assert directory_name(tmp_path, "redi", edited) == own
    (tmp_path / own).mkdir()
    assert directory_name(tmp_path, "redi", edited) == own  # found again, also once "redi" is gone
    note = check_directory(tmp_path / own, edited)
    assert (
        note
        == f"{tmp_path / 'redi'} holds a run of another configuration (trainer.max_steps: 8 -> 6); "
        + (f"this one runs in {tmp_path / own}")
    )


def test_a_directory_given_by_hand_that_holds_another_config_is_refused(tmp_path):
    start(tmp_path / "mine", config())
    before = (tmp_path / "mine" / ".hydra" / "config.yaml").read_bytes()
    with pytest.raises(RunIdentityError) as e:
        check_directory(tmp_path / "mine", config(max_steps=6, extra=1))
    assert str(e.value) == (
        f"{tmp_path / 'mine'} holds a run of another configuration (trainer.extra: (absent) -> 1, "
        "trainer.max_steps: 8 -> 6); run this one in another directory, or remove that one to start it over"
    )
    record_config(tmp_path / "mine", "lr: 1\n", "", "")  # written once: never over a run's own config
    assert (tmp_path / "mine" / ".hydra" / "config.yaml").read_bytes() == before
    assert check_directory(tmp_path / "mine", config()) is None  # the same config: on it goes


def test_results_without_a_recorded_config_are_not_taken_over(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.jsonl").write_text('{"step": 1}\n')
    assert directory_name(tmp_path, "old", config()).startswith("old_c")
    with pytest.raises(RunIdentityError, match="holds results but no .hydra/config.yaml"):
        check_directory(tmp_path / "old", config())
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "run.log").write_text("")  # what Hydra writes before a run starts
    assert directory_name(tmp_path, "fresh", config()) == "fresh"


def test_differences_name_the_first_keys_and_count_the_rest():
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    new = {"a": 1, "b": {"c": 5, "d": 4}, "e": [1], "f": None}
    assert differences(old, new, limit=2) == "b.c: 2 -> 5, b.d: 3 -> 4, and 2 more"
