"""The step trains the objective's own loss: accumulated micro-batches give ObjectiveOutput.loss()'s gradient."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from redi.config import TrainerConfig
from redi.data.tokenize import Encoded, EncodedRows, collate_rows
from redi.infra.distributed import DistEnv
from redi.loop.logprobs import policy_logps
from redi.loop.plan import Batching, BatchPlan
from redi.loop.step import LoopInputs, Step
from redi.objectives import get_objective


def tiny_model() -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
    )
    return Qwen2ForCausalLM(cfg).double()


def rows(n: int, pairs: bool) -> EncodedRows:
    g = torch.Generator().manual_seed(1)

    def seq(i: int) -> Encoded:
        ids = torch.randint(1, 40, (4 + i % 5,), generator=g).tolist()
        return Encoded(ids, response_start=2, truncated=False)

    chosen = [seq(i) for i in range(n)]
    rejected = [seq(i + 2) for i in range(n)] if pairs else None
    return EncodedRows(chosen, rejected, [len(c.ids) for c in chosen], 0, 0)


def grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize(("name", "hyper"), [("sft", {}), ("redi", {"alpha": 0.5})])
def test_accumulated_step_has_the_gradient_of_the_objectives_loss(name, hyper):
    spec, data, model = get_objective(name), rows(6, pairs=name != "sft"), tiny_model()
    plan = BatchPlan(data.lengths, 6, 0, Batching("random"), 1.0, -1)
    inputs = LoopInputs(model, data, plan, spec, hyper, None, 0, 1e-3, 0)
    stats = Step(inputs, TrainerConfig(grad_accum_steps=3), DistEnv())(list(range(6)))
    stepped = grads(model)

    model.zero_grad(set_to_none=True)
    out = spec(policy_logps(model, collate_rows(data, list(range(6)), 0)), None, **hyper)
    out.loss().backward()
    assert stats.loss == pytest.approx(out.loss().item(), rel=1e-6)  # fp32: summation order differs
    assert stats.weight == pytest.approx(out.weights.sum().item(), rel=1e-6)  # SFT: tokens; pairs: 6
    for a, b in zip(stepped, grads(model), strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)
