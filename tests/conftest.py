"""Shared test set-up: offline everything, a private cache, W&B offline, one thread per process."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test session shares one cache (so the stage-1 model is built once), never the user's."""
    cache = tmp_path_factory.getbasetemp() / "redi-cache"
    monkeypatch.setenv("REDI_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache / "hf-datasets"))


@pytest.fixture(autouse=True)
def _own_wandb_service():
    """A test that starts W&B in this process ends its service and unexports it.

    W&B exports its service's address (WANDB_SERVICE); runs started later as subprocesses would otherwise share
    this process's service, which still holds a killed run's id ("run ID ... is in use") or is itself dead.
    """
    before = os.environ.get("WANDB_SERVICE")
    yield
    if os.environ.get("WANDB_SERVICE") != before and "wandb" in sys.modules:
        with contextlib.suppress(Exception):  # the service may already be dead
            sys.modules["wandb"].teardown()
        os.environ.pop("WANDB_SERVICE", None)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repository; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (it is beside the repository on developer machines and in CI)")
    return SHARED_DATA
