"""Faster kernels keep the math: compiled decoder layers give the eager loss and gradients; Liger is refused
before any compute where it cannot run (no package, no GPU) and patches the instance with the kernels it names."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from omegaconf import OmegaConf

from redi.data.tokenize import collate_rows
from redi.loop.logprobs import policy_logps
from redi.model.kernels import apply_kernels, apply_liger, compile_layers, decoder_layers
from redi.objectives import get_objective
from tests.loop.test_step import rows, tiny_model


def loss_and_grads(model: torch.nn.Module) -> tuple[float, list[torch.Tensor]]:
    """REDI (alpha 0.5) on six fixed pairs, through redi's log-prob head: loss, and every parameter's gradient."""
    data = rows(6, pairs=True)
    model.zero_grad(set_to_none=True)
    out = get_objective("redi")(policy_logps(model, collate_rows(data, list(range(6)), 0)), None, alpha=0.5)
    loss = out.loss()
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.slow
def test_compiled_layers_give_the_eager_loss_and_gradients():
    eager = tiny_model().float()
    compiled = tiny_model().float()
    keys = list(compiled.state_dict())
    cfg = OmegaConf.create({"model": {"liger": False}, "trainer": {"compile": True}})
    apply_kernels(compiled, cfg, torch.device("cpu"))
    assert list(compiled.state_dict()) == keys  # checkpoints and saved models keep their names
    assert all(layer._compiled_call_impl is not None for layer in decoder_layers(compiled))
    for _ in range(2):  # the second call reuses the compiled graph (dynamic shapes: several lengths)
        loss_e, grads_e = loss_and_grads(eager)
        loss_c, grads_c = loss_and_grads(compiled)
        assert loss_c == pytest.approx(loss_e, rel=1e-5)
        for g_e, g_c in zip(grads_e, grads_c, strict=True):
            assert torch.linalg.vector_norm(g_c - g_e) <= 1e-5 * torch.linalg.vector_norm(g_e) + 1e-8


def test_compile_counts_every_decoder_layer_and_names_a_model_without_them():
    model = tiny_model()
    assert compile_layers(model) == model.config.num_hidden_layers
    with pytest.raises(ValueError, match=r"trainer.compile=true: no decoder layers found in Linear"):
        decoder_layers(torch.nn.Linear(2, 2))


def test_liger_on_a_cpu_names_the_device():
    with pytest.raises(ValueError, match=r"model.liger=true needs a CUDA device .* the run is on cpu"):
        apply_liger(tiny_model(), torch.device("cpu"))


def test_liger_patches_the_instance_with_norm_rope_and_swiglu_only(monkeypatch):
    """The GPU cannot exist here: the package's patch entry point is recorded instead of run."""
    calls = []
    patch = types.ModuleType("liger_kernel.transformers.monkey_patch")
    patch._apply_liger_kernel_to_instance = lambda **kw: calls.append(kw)
    for name in ("liger_kernel", "liger_kernel.transformers"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.monkey_patch", patch)
    model = tiny_model()
    apply_liger(model, torch.device("cuda"))
    assert len(calls) == 1 and calls[0].pop("model") is model
    assert calls[0] == {
        "rope": True,
        "rms_norm": True,
        "swiglu": True,
        "cross_entropy": False,  # redi's chunked head computes the log-probs itself
        "fused_linear_cross_entropy": False,
    }
