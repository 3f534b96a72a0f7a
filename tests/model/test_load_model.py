"""load_model applies the paper's RoPE base and context length to a local checkpoint, in the configured dtype."""

from __future__ import annotations

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from redi.config import ModelConfig
from redi.model.load import load_model
from redi.model.source import ModelSource


def test_rope_theta_and_positions_are_applied_and_weights_load_in_model_dtype(tmp_path):
    config = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_theta=10000.0,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(tmp_path)
    cfg = ModelConfig(dtype="float32", rope_theta=300000.0, max_position_embeddings=32768)
    model = load_model(ModelSource("dir", str(tmp_path)), cfg, torch.device("cpu"))
    assert model.config.rope_parameters["rope_theta"] == 300000.0
    assert model.config.max_position_embeddings == 32768
    # the rotary frequencies are built from the new base: inv_freq[1] = theta^(-2/head_dim), head_dim 8
    inv_freq = model.model.rotary_emb.inv_freq
    assert torch.allclose(inv_freq[1], torch.tensor(300000.0 ** (-2 / 8)), rtol=1e-6)
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # bf16 on disk, fp32 master weights
