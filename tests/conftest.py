"""Shared test set-up: offline everything, a private cache, W&B offline, one thread per process."""

from __future__ import annotations

import os
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
def _unexport_wandb_service():
    """Runs started as subprocesses get W&B services of their own.

    W&B exports its in-process service's address (WANDB_SERVICE); a subprocess that inherits it shares this
    process's service, which may still hold a killed run's id ("run ID ... is in use").
    """
    before = os.environ.get("WANDB_SERVICE")
    yield
    if os.environ.get("WANDB_SERVICE") != before:
        os.environ.pop("WANDB_SERVICE", None)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repository; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (it is beside the repository on developer machines and in CI)")
    return SHARED_DATA
