"""Faster kernels for the same math: torch.compile of each decoder layer, and Liger's fused Triton kernels.

Both are off by default and change no loss beyond rounding (tests/model/test_kernels.py). ``trainer.compile=true``
compiles every decoder layer on its own ("regional" compilation, with dynamic shapes, as torchtune and torchtitan
do): one compiled graph is reused by all layers and every sequence length, compilation takes a minute rather
than many, and the output head stays eager so redi's chunked log-prob head (redi/loop/logprobs.py) still
replaces it. ``model.liger=true`` patches the model instance with Liger's RMSNorm, RoPE and SwiGLU kernels
(CUDA only); Liger's fused linear cross-entropy is not used, the chunked head does that job for every objective.

The checks here run in the pre-flight (no torch import); the patches run once the model is built.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from redi.config.checks import Checks

log = logging.getLogger(__name__)


def check_kernels(root: Checks) -> None:
    """model.liger needs the liger-kernel package and a CUDA device; trainer.compile needs nothing extra."""
    if not root.sub("model").get("liger"):
        return
    if importlib.util.find_spec("liger_kernel") is None:
        root.fail("model.liger=true but the liger-kernel package is not installed (pip install liger-kernel)")
    if root.sub("trainer").get("device") == "cpu":
        root.fail(
            "model.liger=true needs a CUDA GPU (Liger's kernels are Triton GPU kernels); trainer.device=cpu"
        )


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's decoder layers (Hugging Face causal LMs, also under a peft wrapper)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", base)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError(
            f"trainer.compile=true: no decoder layers found in {type(base).__name__} (.model.layers)"
        )
    return list(layers)


def compile_layers(model: torch.nn.Module) -> int:
    """Compile every decoder layer in place (``Module.compile``: state-dict keys unchanged); the count."""
    layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


def apply_liger(model: torch.nn.Module, device: torch.device) -> None:
    """Patch the model instance with Liger's RMSNorm, RoPE and SwiGLU kernels."""
    if device.type != "cuda":
        raise ValueError(
            f"model.liger=true needs a CUDA device (Liger's kernels are Triton); the run is on {device}"
        )
    from liger_kernel.transformers.monkey_patch import _apply_liger_kernel_to_instance

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    _apply_liger_kernel_to_instance(
        model=base,
        rope=True,
        rms_norm=True,
        swiglu=True,
        cross_entropy=False,
        fused_linear_cross_entropy=False,
    )


def apply_kernels(model: torch.nn.Module, cfg: Any, device: torch.device) -> torch.nn.Module:
    """Liger (``model.liger``), then regional compilation (``trainer.compile``); logs what was applied."""
    if cfg.model.get("liger"):
        apply_liger(model, device)
        log.info("Liger kernels applied (RMSNorm, RoPE, SwiGLU)")
    if cfg.trainer.get("compile"):
        count = compile_layers(model)
        log.info(
            "torch.compile: %d decoder layers compiled (dynamic shapes); the first steps include compilation",
            count,
        )
    return model
