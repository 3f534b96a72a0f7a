"""LoRA through peft on a tiny Qwen2: only the adapter trains, the adapter disabled is the base exactly (DPO's
reference), the saved merged model loads in transformers with the adapter's outputs, the adapter loads in peft."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM

from redi.config import Config, ModelConfig, TinyArchConfig
from redi.model.load import build_tiny_model, save_model, train_tokenizer
from redi.model.lora import adapter_disabled, apply_lora, check_lora, save_adapter

ARCH = TinyArchConfig(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64
)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["What is 12 + 30? It is 42."] * 20, vocab_size=300, chat_template="auto")


def lora_model(tokenizer, r: int = 4):
    cfg = ModelConfig()
    cfg.lora.r = r
    base = build_tiny_model(ARCH, tokenizer, seed=0)
    model = apply_lora(base, cfg)
    with torch.no_grad():  # B starts at zero (adapter = identity); give it weights as training would
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(len(name)))
    return model


def test_only_the_adapter_trains_and_disabled_is_the_base(tokenizer):
    x = torch.randint(0, 250, (3, 9), generator=torch.Generator().manual_seed(1))
    base_logits = build_tiny_model(ARCH, tokenizer, seed=0)(x).logits
    model = lora_model(tokenizer)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n for n in trainable)
    with torch.no_grad():
        adapted = model(x).logits
        with adapter_disabled(model):
            disabled = model(x).logits
    assert torch.equal(disabled, base_logits)  # the reference: bit for bit the starting model
    assert not torch.allclose(adapted, base_logits, atol=1e-3)


def test_merged_model_loads_in_transformers_and_adapter_in_peft(tokenizer, tmp_path):
    from peft import PeftModel

    x = torch.randint(0, 250, (2, 7), generator=torch.Generator().manual_seed(2))
    model = lora_model(tokenizer)
    with torch.no_grad():
        adapted = model(x).logits
    save_model(model, tokenizer, tmp_path / "model")
    save_adapter(model, tokenizer, tmp_path / "adapter")
    assert (tmp_path / "model" / "config.json").is_file() and (
        tmp_path / "adapter" / "adapter_config.json"
    ).is_file()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    assert not any("lora" in k for k in merged.state_dict())
    with torch.no_grad():
        assert torch.allclose(merged(x).logits, adapted, atol=1e-5)
        # still an adapter model after saving (the merge did not change it)
        assert torch.equal(model(x).logits, adapted)
    base = build_tiny_model(ARCH, tokenizer, seed=0)
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter")
    with torch.no_grad():
        assert torch.allclose(reloaded(x).logits, adapted, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "from_weights", "message"),
    [
        ({"r": -1}, True, r"model.lora.r=-1: must be >= 0"),
        ({"r": 8, "dropout": 1.5}, True, r"model.lora.dropout=1.5"),
        ({"r": 8, "bias": "some"}, True, r"model.lora.bias='some'"),
        ({"r": 8, "target_modules": []}, True, r"model.lora.target_modules: empty"),
        ({"r": 8}, False, r"builds the tiny model from scratch"),
    ],
)
def test_bad_lora_settings_name_the_key(overrides, from_weights, message):
    cfg = OmegaConf.structured(Config)
    for k, v in overrides.items():
        cfg.model.lora[k] = v
    with pytest.raises(ValueError, match=message):
        check_lora(cfg, starts_from_weights=from_weights)


@pytest.mark.slow
def test_a_lora_dpo_run_on_the_tiny_model(tmp_path):
    """objective=dpo model.lora.r=4 through the entry point: completes, saves merged model/ and adapter/."""
    import json
    import os
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "redi.run", "experiment=smoke", "objective=dpo", "beta=0.1", "model.lora.r=4",
         "model.lora.alpha=8", "logger=off", f"hydra.run.dir={run_dir}", "hub.push=true",
         f"hub.repo_id=file://{tmp_path / 'pushed'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"
    assert "LoRA r=4 alpha=8" in proc.stderr + proc.stdout
    merged = AutoModelForCausalLM.from_pretrained(run_dir / "model")
    assert not any("lora" in k for k in merged.state_dict())
    assert json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["r"] == 4
    card = (tmp_path / "pushed" / "README.md").read_text()  # pushed with its card (a local target)
    assert "objective **dpo**" in card and "| beta | 0.1 |" in card and "| pair_rows |" in card
