"""``model.*``: where the policy's weights come from (tiny from scratch, a path, the hub, stage 1) and how it runs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TinyArchConfig:
    """Shape of the Qwen2-architecture model built from scratch when ``model.base`` is null."""

    hidden_size: int = 128
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 384
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    vocab_size: int = 512  # size the tokenizer trained on the data is asked for


@dataclass
class LoraConfig:
    """LoRA adapters through the peft library; r = 0 trains every weight (no adapter).

    The run's policy gets the adapter (SFT from ``model.base`` or any preference run); the stage-1 model that
    ``init_from=stage1`` builds is always fully fine-tuned. The saved model/ holds the merged weights; adapter/
    the adapter alone.
    """

    r: int = 0
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    bias: str = "none"  # none | all | lora_only


@dataclass
class ModelConfig:
    """The policy: where its weights come from and how it runs.

    base: hub id or local path of the model stage 1 starts from; null builds the tiny model from ``arch``.
    init_from: where preference objectives start: "stage1" (build or reuse the cached stage-1 SFT model from the
      ``stage1`` block), a stage-1 run directory, a local Hugging Face model directory, or a hub id.
    """

    base: str | None = None
    init_from: str = "stage1"
    revision: str | None = None
    tokenizer: str | None = None  # defaults to the model's own tokenizer
    arch: TinyArchConfig = field(default_factory=TinyArchConfig)
    # auto: the tokenizer's own template when it has one, else chatml_think; "model": the tokenizer's own (an
    # error when it has none); or a name from redi.model.chat_templates to replace it. The choice is logged.
    chat_template: str = "auto"
    lora: LoraConfig = field(default_factory=LoraConfig)
    dtype: str = "float32"  # float32 | bfloat16 | float16
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2
    gradient_checkpointing: bool = False
    liger: bool = False  # Liger's RMSNorm/RoPE/SwiGLU Triton kernels (CUDA; pip install liger-kernel)
    rope_theta: float | None = None  # the paper raises Qwen2.5-Math's to 300000 before training
    max_position_embeddings: int | None = None  # and max positions to 32768
