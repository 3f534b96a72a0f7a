"""model.init_from accepts a Hugging Face Trainer checkpoint-N (built here by transformers' Trainer), the
Trainer's output directory (its latest checkpoint) and a peft adapter checkpoint; the weights loaded are the
Trainer's; a checkpoint without a tokenizer fails with one line naming model.tokenizer."""

from __future__ import annotations

import pytest
import torch

from redi.config import ModelConfig, TinyArchConfig
from redi.model.load import build_tiny_model, load_model, load_tokenizer, train_tokenizer
from redi.model.resolve import resolve_source
from redi.model.source import ModelSourceError

ARCH = TinyArchConfig(
    hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trainer_output(tmp_path_factory):
    """A real Trainer run of 4 steps on the tiny model, saving checkpoint-2 and checkpoint-4 (no tokenizer)."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    out = tmp_path_factory.mktemp("trainer") / "out"
    tokenizer = train_tokenizer(["What is 12 + 30? It is 42."] * 20, vocab_size=300, chat_template="auto")
    model = build_tiny_model(ARCH, tokenizer, seed=0)
    ids = tokenizer(["What is 12 + 30? It is 42."] * 8)["input_ids"]
    data = Dataset.from_dict({"input_ids": ids, "labels": ids})
    args = TrainingArguments(
        output_dir=str(out), max_steps=4, save_steps=2, per_device_train_batch_size=4, learning_rate=1e-2,
        report_to=[], use_cpu=True, logging_steps=1,
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=data).train()
    tokenizer.save_pretrained(out / "tokenizer")
    return out, model, tokenizer


def test_checkpoint_n_loads_the_trainers_weights(trainer_output):
    out, trained, _ = trainer_output
    ckpt = out / "checkpoint-4"
    assert (ckpt / "trainer_state.json").is_file() and (ckpt / "optimizer.pt").is_file()
    with pytest.raises(ModelSourceError, match=r"has no tokenizer .* set model.tokenizer="):
        resolve_source(str(ckpt), "model.init_from")
    cfg = ModelConfig(tokenizer=str(out / "tokenizer"))
    source = resolve_source(str(ckpt), "model.init_from", cfg.tokenizer)
    model = load_model(source, cfg, torch.device("cpu"))
    for (name, a), b in zip(model.state_dict().items(), trained.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert load_tokenizer(source, cfg).chat_template  # the default template, logged


def test_the_output_directory_means_its_latest_checkpoint(trainer_output):
    out, _, tokenizer = trainer_output
    source = resolve_source(str(out), "model.init_from", str(out / "tokenizer"))
    assert source.location.endswith("checkpoint-4")
    tokenizer.save_pretrained(out / "checkpoint-2")  # a tokenizer beside the weights is found by itself
    assert resolve_source(str(out / "checkpoint-2"), "model.init_from").tokenizer == str(out / "checkpoint-2")


def test_an_adapter_checkpoint_is_merged_into_its_base(tmp_path):
    from redi.model.load import save_model
    from redi.model.lora import apply_lora

    tokenizer = train_tokenizer(["What is 1 + 1? It is 2."] * 20, vocab_size=300, chat_template="auto")
    base = build_tiny_model(ARCH, tokenizer, seed=0)
    save_model(base, tokenizer, tmp_path / "base")
    base = load_model(resolve_source(str(tmp_path / "base"), "b"), ModelConfig(), torch.device("cpu"))
    cfg = ModelConfig()
    cfg.lora.r = 2
    peft_model = apply_lora(base, cfg)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.1)
    ckpt = tmp_path / "out" / "checkpoint-3"
    peft_model.save_pretrained(ckpt)  # as a peft Trainer writes it: adapter files only
    (ckpt / "trainer_state.json").write_text('{"global_step": 3, "epoch": 1.0}')
    source = resolve_source(str(ckpt), "model.init_from")
    assert source.kind == "adapter" and source.tokenizer == str((tmp_path / "base").resolve())
    merged = load_model(source, ModelConfig(), torch.device("cpu"))
    x = torch.randint(0, 250, (2, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(merged(x).logits, peft_model(x).logits, atol=1e-5)
