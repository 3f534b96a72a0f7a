"""Load or build the policy and its tokenizer: a hub id, a local directory, a stage-1 run, or the tiny default."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from redi.config import ModelConfig, TinyArchConfig
from redi.model.chat_templates import (
    END_OF_TURN,
    ChatTemplateError,
    choose_chat_template,
    template_for_new_tokenizer,
)
from redi.model.source import ModelSource, ModelSourceError

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def train_tokenizer(texts: Iterable[str], vocab_size: int, chat_template: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (digits split one per token) trained on ``texts``, with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # one token per digit (as Qwen2.5's tokenizer does): a number reads the same wherever it stands, and
    # arithmetic is over ten digit tokens instead of a lookup table over hundreds of multi-digit ones
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=END_OF_TURN, pad_token="<|endoftext|>", bos_token=None, unk_token=None
    )
    wrapped.chat_template = template_for_new_tokenizer(chat_template)
    return wrapped


def build_tiny_model(arch: TinyArchConfig, tokenizer, seed: int) -> Qwen2ForCausalLM:
    """A freshly initialised Qwen2-architecture model sized by ``arch`` (deterministic given ``seed``)."""
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        intermediate_size=arch.intermediate_size,
        max_position_embeddings=arch.max_position_embeddings,
        rope_theta=arch.rope_theta,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(END_OF_TURN),
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model


def load_tokenizer(source: ModelSource, cfg: ModelConfig):
    """The source's tokenizer (or cfg.tokenizer), with the chat template model.chat_template chooses (logged)."""
    origin = cfg.tokenizer or source.tokenizer or source.location
    tokenizer = AutoTokenizer.from_pretrained(origin, revision=cfg.revision)
    try:
        logging.getLogger(__name__).info(choose_chat_template(tokenizer, cfg.chat_template, origin))
    except ChatTemplateError as e:
        raise ModelSourceError(str(e)) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_config(source: ModelSource, cfg: ModelConfig):
    """The source's config with ``model.rope_theta`` and ``model.max_position_embeddings`` applied.

    transformers 5 keeps the RoPE base in ``rope_parameters`` (a ``rope_theta`` keyword is not a config field
    any more: passed to from_pretrained it reaches the model's constructor and fails).
    """
    config = AutoConfig.from_pretrained(source.location, revision=cfg.revision)
    if cfg.rope_theta is not None:
        if isinstance(getattr(config, "rope_parameters", None), dict):
            config.rope_parameters = {**config.rope_parameters, "rope_theta": float(cfg.rope_theta)}
        else:
            config.rope_theta = float(cfg.rope_theta)
    if cfg.max_position_embeddings is not None:
        config.max_position_embeddings = int(cfg.max_position_embeddings)
    return config


def load_model(source: ModelSource, cfg: ModelConfig, device: torch.device):
    """Load a causal LM with the configured dtype and attention, applying the paper's RoPE/position overrides."""
    if source.kind == "adapter":  # a peft adapter checkpoint: its base with the adapter merged
        return load_adapter_model(source, lambda base: load_model(base, cfg, device))
    model = AutoModelForCausalLM.from_pretrained(
        source.location,
        revision=cfg.revision,
        config=model_config(source, cfg),
        dtype=DTYPES[cfg.dtype],
        attn_implementation=cfg.attn_implementation,
    )
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model.to(device)


def tokenizer_fingerprint(tokenizer) -> str:
    """A string that changes when tokenisation could change (vocabulary, merges, chat template)."""
    import hashlib

    state = (
        tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else str(tokenizer)
    )
    return hashlib.sha256((state + str(tokenizer.chat_template)).encode()).hexdigest()[:16]


def save_model(model, tokenizer, target: Path, state_dict: dict[str, torch.Tensor] | None = None) -> None:
    """Write model + tokenizer in Hugging Face format to ``target`` atomically (tmp dir, then rename).

    ``state_dict``: the weights to write instead of the model's own (the gathered full weights of a sharded model).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    unwrapped = getattr(model, "module", model)
    from redi.model.lora import is_peft, merged_state_dict

    if state_dict is None and is_peft(unwrapped):  # the merged weights: what transformers and vLLM load
        state_dict, unwrapped = merged_state_dict(unwrapped), unwrapped.get_base_model()
    unwrapped.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)


def load_adapter_model(source, load_base):
    """The adapter's base loaded by ``load_base(base_source)``, with the adapter merged into its weights."""
    from peft import PeftModel

    base_kind = "dir" if Path(source.base).exists() else "hub"
    base = load_base(ModelSource(base_kind, source.base))
    return PeftModel.from_pretrained(base, source.location).merge_and_unload()
