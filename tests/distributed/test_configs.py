"""The paper's 8-GPU trainer settings state the paper's global batches (per device x accumulation x 8 processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import redi.run  # noqa: F401  (registers schemas and resolvers)

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize(("trainer", "global_batch"), [("gpu8_sft", 128), ("gpu8", 32)])
def test_gpu8_settings_give_the_papers_global_batch(trainer: str, global_batch: int) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"trainer={trainer}"])
    t = cfg.trainer
    assert t.micro_batch_size * t.grad_accum_steps * 8 == global_batch
    assert (t.device, t.precision, t.warmup_ratio, t.weight_decay) == ("cuda", "bf16", 0.1, 1e-4)
