"""Training numerics: fp32 master weights and AdamW moments, bf16 compute.

The paper trains in DeepSpeed's bf16 mixed precision: the forward and backward run in bf16, the weights the
optimizer updates and both Adam moments are fp32. redi does the same with ``model.dtype=float32`` (the weights,
their gradients and AdamW's moments are fp32: 16 bytes per parameter) and ``trainer.precision=bf16`` (forwards and
backwards under bf16 autocast; under FSDP2 also a mixed-precision policy, so the all-gathered layers are bf16 and
gradients are reduced in fp32). A LoRA adapter trains in fp32 over a frozen base kept in ``model.dtype``.

Why not bf16 weights: a bf16 number has 8 significant bits, so the spacing between neighbouring values at a weight
w is between |w| 2^-8 and |w| 2^-7, and an update below half of it rounds away. AdamW moves a weight by about lr
per step (the normalised step m/sqrt(v) is of order 1), so at the paper's stage-2 lrs (1e-8 to 2e-6) and a
typical weight of 0.02 (spacing >= 7.8e-5) almost nothing moves. The pre-flight (:func:`check_precision`)
refuses such configs. The checks here import no torch; the run-time helpers import it when called.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from redi.config.checks import Checks

log = logging.getLogger(__name__)

TYPICAL_WEIGHT = 0.02  # the std of Qwen2's initialisation (initializer_range): the size of a typical weight
SIGNIFICAND_BITS = {"float32": 24, "bfloat16": 8, "float16": 11}  # with the implicit leading bit
MASTER_DTYPES = ("float32",)  # weight dtypes whose updates at the paper's lrs are kept


def update_floor(dtype: str, weight: float = TYPICAL_WEIGHT) -> float:
    """|w| 2^-p for a ``dtype`` with p significant bits: the largest update that can round away at |w|.

    Stored values near |w| are 2^(e-p+1) apart (|w| in [2^e, 2^(e+1))), i.e. between |w| 2^-p and |w| 2^-(p-1);
    an update below half that spacing is lost, one just above it becomes a whole spacing. Below |w| 2^-p an update
    is therefore rounded away or inflated up to twice its size. bfloat16 at 0.02: 7.8e-5; float16: 9.8e-6;
    float32: 1.2e-9.
    """
    return weight * 2.0 ** -SIGNIFICAND_BITS[dtype]


def trained_in_stored_dtype(cfg: Any, spec: Any) -> list[tuple[str, float, str]]:
    """(lr key, lr, what) of every training of weights kept in ``model.dtype`` that this run does.

    Its own training when it fine-tunes every weight, or trains the base's biases beside a LoRA adapter (the
    adapter itself is float32); and stage 1 (full fine-tuning) when the run builds it.
    """
    phases = []
    lora = cfg.model.lora
    if cfg.mode == "train" and int(lora.r) == 0:
        phases.append(("lr", cfg.lr, "the trained weights"))
    elif cfg.mode == "train" and lora.bias != "none":
        phases.append(("lr", cfg.lr, f"the biases model.lora.bias={lora.bias} trains"))
    uses_stage1 = cfg.mode == "stage1" or (
        cfg.model.init_from == "stage1"
        and (spec is None or spec.needs_pairs or cfg.mode == "eval" or _samples_from_stage1(cfg))
    )
    if uses_stage1:
        phases.append(("stage1.lr", cfg.stage1.lr, "the stage-1 SFT model's weights"))
    return phases


def _samples_from_stage1(cfg: Any) -> bool:
    sampled = cfg.data.get("self_generated")
    return bool(sampled is not None and sampled.enabled and sampled.model == "stage1")


def check_precision(root: Checks, spec: Any) -> None:
    """Refuse weights stored in bf16/fp16 that AdamW would train at an lr whose updates round away."""
    cfg = root.node
    dtype = cfg.model.dtype
    if dtype not in SIGNIFICAND_BITS or dtype in MASTER_DTYPES:
        return
    floor = update_floor(dtype)
    for key, lr, what in trained_in_stored_dtype(cfg, spec):
        if isinstance(lr, int | float) and 0 < lr < floor:
            root.fail(
                f"model.dtype={dtype!r} with {key}={lr:g}: AdamW would keep {what} and its moments in {dtype}, "
                f"whose spacing at a typical weight (|w| = {TYPICAL_WEIGHT}) is at least {floor:.2g} "
                f"(|w| x 2^-{SIGNIFICAND_BITS[dtype]}); an update of about {key} per step is below it and rounds "
                "away (the weights barely move). Keep fp32 master weights with bf16 compute: "
                "model.dtype=float32 trainer.precision=bf16 (the paper's mixed precision; docs/scaling.md)"
                + _alternative(cfg, key)
            )


def _alternative(cfg: Any, key: str) -> str:
    """The other way out for this run's own training: a LoRA adapter (float32), or one without bf16 biases."""
    if key != "lr":
        return ""
    if int(cfg.model.lora.r) > 0:
        return ", or model.lora.bias=none (the adapter's own weights are float32)"
    return ", or train a LoRA adapter (model.lora.r > 0: its weights are float32)"


# ---------------------------------------------------------------------------------------------------------------
# run time


def compute_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``trainer.precision=bf16`` (matmuls in bf16, the weights stay as stored), else nothing."""
    import torch

    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fsdp_mixed_precision(precision: str, model: torch.nn.Module) -> Any:
    """FSDP2's policy for bf16 compute over fp32 shards: layers gathered in bf16, gradients reduced in fp32.

    None (FSDP2's default: everything in the stored dtype) for fp32 training or weights that are not fp32.
    """
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy

    stored = {p.dtype for p in model.parameters() if p.requires_grad}
    if precision != "bf16" or stored != {torch.float32}:
        return None
    return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)


def warn_on_rounded_updates(model: torch.nn.Module, lr: float) -> None:
    """Log a warning when trainable weights are stored in a dtype whose spacing swallows updates of about ``lr``.

    The pre-flight refuses configs that do this; this catches weights that arrive in low precision another way.
    """
    names = {"torch.bfloat16": "bfloat16", "torch.float16": "float16"}
    low = {names[str(p.dtype)] for p in model.parameters() if p.requires_grad and str(p.dtype) in names}
    for dtype in sorted(low):
        if lr < update_floor(dtype):
            log.warning(
                "trainable weights are stored in %s at lr %g: updates below %.2g (the spacing at |w| = %s) "
                "round away and the weights barely move; load them in float32 (model.dtype=float32) and "
                "compute in bf16 (trainer.precision=bf16)",
                dtype,
                lr,
                update_floor(dtype),
                TYPICAL_WEIGHT,
            )


def describe(model: torch.nn.Module, precision: str) -> str:
    """One log line: the dtypes of the trained weights (and so of AdamW's moments) and of the compute."""
    trained: dict[str, int] = {}
    for p in model.parameters():
        if p.requires_grad:
            key = str(p.dtype).removeprefix("torch.")
            trained[key] = trained.get(key, 0) + p.numel()
    weights = ", ".join(f"{n:,} in {d}" for d, n in sorted(trained.items()))
    compute = "bf16 autocast" if precision == "bf16" else "the weights' dtype"
    return f"numerics: trained weights and AdamW moments {weights}; forward and backward in {compute}"
