"""LoRA adapters through the peft library (``model.lora.r > 0``): wrap the policy, disable the adapter for the
reference, and save both the merged model (what transformers and vLLM load) and the adapter alone (what peft loads
on top of the base).

The run's policy gets the adapter when it starts from loaded weights (``model.base`` for SFT, ``init_from`` for a
preference objective); the stage-1 model that ``init_from=stage1`` builds stays full fine-tuning. Only the
adapter's weights train (and receive weight decay); the base's stay frozen. DPO's reference log-probs are those of
the base with the adapter disabled, which is the starting model exactly.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads when a model is adapted, not when the config is validated
    import torch

log = logging.getLogger(__name__)
BIAS_CHOICES = ("none", "all", "lora_only")


def enabled(model_cfg: Any) -> bool:
    """Whether ``model.lora`` asks for an adapter."""
    lora = getattr(model_cfg, "lora", None)
    return lora is not None and int(lora.r) > 0


def check_lora(cfg: Any, starts_from_weights: bool) -> None:
    """Raise ValueError naming the ``model.lora`` key whose value cannot work (before any compute)."""
    lora = cfg.model.lora
    if lora.r < 0:
        raise ValueError(f"model.lora.r={lora.r}: must be >= 0 (0 = no adapter, full fine-tuning)")
    if lora.r == 0:
        return
    import importlib.util

    if importlib.util.find_spec("peft") is None:
        raise ValueError("model.lora.r > 0 needs the peft package: pip install 'redi[lora]'")
    if lora.alpha <= 0:
        raise ValueError(f"model.lora.alpha={lora.alpha}: must be > 0")
    if not 0 <= lora.dropout < 1:
        raise ValueError(f"model.lora.dropout={lora.dropout}: must be in [0, 1)")
    if lora.bias not in BIAS_CHOICES:
        raise ValueError(f"model.lora.bias={lora.bias!r}: expected one of {', '.join(BIAS_CHOICES)}")
    if not lora.target_modules:
        raise ValueError("model.lora.target_modules: empty; name the modules to adapt (e.g. [q_proj,v_proj])")
    if not starts_from_weights:
        raise ValueError(
            f"model.lora.r={lora.r}: this run builds the tiny model from scratch (model.base=null), which has no "
            "pretrained weights to adapt; set model.base, or train a preference objective from init_from"
        )
    if cfg.trainer.distributed == "fsdp":
        raise ValueError("model.lora.r > 0 with trainer.distributed=fsdp is not supported; use ddp")


def apply_lora(model: torch.nn.Module, model_cfg: Any) -> torch.nn.Module:
    """The model wrapped in a peft LoRA adapter as ``model.lora`` says (only the adapter trains)."""
    from peft import LoraConfig, get_peft_model

    lora = model_cfg.lora
    config = LoraConfig(
        r=int(lora.r),
        lora_alpha=float(lora.alpha),
        lora_dropout=float(lora.dropout),
        target_modules=list(lora.target_modules),
        bias=str(lora.bias),
        task_type="CAUSAL_LM",
    )
    try:
        # autocast_adapter_dtype: over a bf16/fp16 base the adapter's weights (so AdamW's moments) are float32,
        # the fp32 master weights of a LoRA run (redi.loop.precision); the frozen base stays in model.dtype
        peft_model = get_peft_model(model, config, autocast_adapter_dtype=True)
    except ValueError as e:  # peft names the target modules it did not find
        raise ValueError(f"model.lora.target_modules={list(lora.target_modules)}: {e}") from e
    if getattr(model_cfg, "gradient_checkpointing", False):
        peft_model.enable_input_require_grads()  # checkpointed layers need an input that requires grad
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    log.info(
        "LoRA r=%d alpha=%g dropout=%g on %s: %d trainable of %d parameters (%.2f%%)",
        lora.r, lora.alpha, lora.dropout, ",".join(lora.target_modules), trainable, total, 100 * trainable / total,
    )  # fmt: skip
    return peft_model


def is_peft(model: torch.nn.Module) -> bool:
    """Whether ``model`` (or the module DDP wraps) is a peft model."""
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(getattr(model, "module", model), PeftModel)


@contextlib.contextmanager
def adapter_disabled(model: torch.nn.Module) -> Iterator[None]:
    """Inside, a peft model computes with its base weights only; any other model is unchanged."""
    unwrapped = getattr(model, "module", model)
    if not is_peft(unwrapped):
        yield
        return
    with unwrapped.disable_adapter():
        yield


def merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The base model's weights with every LoRA delta added (W + scale B A), keyed as the plain model's.

    The model is not changed (no merge/unmerge round trip), so training or evaluation can go on after. The sums
    are float32 (and so is every weight written with them): a delta added to a bf16 base at the paper's lrs would
    round away (redi.loop.precision).
    """
    import torch

    with torch.no_grad():
        return _merged_state_dict(model)


def _merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    from peft.tuners.lora import LoraLayer

    peft_model = getattr(model, "module", model)
    base = peft_model.get_base_model()
    merged: dict[str, torch.Tensor] = {}
    deltas: dict[str, torch.Tensor] = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    delta = module.get_delta_weight(adapter)
                    key = f"{name}.base_layer.weight"
                    deltas[key] = deltas[key] + delta if key in deltas else delta
    for key, value in base.state_dict().items():
        if ".lora_" in key:
            continue
        value = value.float() if value.is_floating_point() else value
        if key in deltas:
            value = value + deltas[key].float()
        merged[key.replace(".base_layer.", ".")] = value.detach().clone()
    return merged


def save_adapter(model: torch.nn.Module, tokenizer, target: Path) -> None:
    """Write the adapter alone (adapter_config.json, adapter_model.safetensors) and the tokenizer atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    getattr(model, "module", model).save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    log.info("LoRA adapter saved to %s (load with peft.AutoPeftModelForCausalLM)", target)
