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
from redi.loop.stats import StepStats
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
    stats = StepStats.from_sums(
        Step(inputs, TrainerConfig(grad_accum_steps=3), DistEnv())(list(range(6))).tolist()
    )
    stepped = grads(model)

    model.zero_grad(set_to_none=True)
    out = spec(policy_logps(model, collate_rows(data, list(range(6)), 0)), None, **hyper)
    out.loss().backward()
    assert stats.loss == pytest.approx(out.loss().item(), rel=1e-6)  # fp32: summation order differs
    assert stats.weight == pytest.approx(out.weights.sum().item(), rel=1e-6)  # SFT: tokens; pairs: 6
    for a, b in zip(stepped, grads(model), strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)


OBJECTIVES = [
    ("sft", {}),
    ("dpo", {"beta": 0.1}),
    ("simpo", {"beta": 2.0, "gamma": 0.5}),
    ("redi", {"alpha": 0.8}),
    ("ipo", {"beta": 0.1}),
    ("nca", {"beta": 0.1}),
    ("rpo", {"beta": 0.1, "nll_weight": 1.0}),
]


def long_tailed_rows(n: int, pairs: bool) -> EncodedRows:
    """Sequences of 5-150 tokens (a few long), so length-sorted forwards cut a micro-batch into several."""
    g = torch.Generator().manual_seed(2)

    def seq() -> Encoded:
        length = int(5 + 145 * torch.rand((), generator=g) ** 3)
        ids = torch.randint(1, 40, (length,), generator=g).tolist()
        return Encoded(ids, response_start=int(torch.randint(1, length, (), generator=g)), truncated=False)

    chosen = [seq() for _ in range(n)]
    rejected = [seq() for _ in range(n)] if pairs else None
    return EncodedRows(chosen, rejected, [len(c.ids) for c in chosen], 0, 0)


def run_step(name: str, hyper: dict, forward: str, data: EncodedRows) -> tuple[StepStats, list[torch.Tensor]]:
    model = tiny_model()
    model.config.max_position_embeddings = 256
    spec = get_objective(name)
    reference = -40 * torch.rand(len(data), 2, generator=torch.Generator().manual_seed(3))
    plan = BatchPlan(data.lengths, len(data), 0, Batching("random"), 1.0, -1)
    inputs = LoopInputs(model, data, plan, spec, hyper, reference, 0, 1e-3, 0)
    cfg = TrainerConfig(grad_accum_steps=2, forward=forward)
    stats = StepStats.from_sums(Step(inputs, cfg, DistEnv())(list(range(len(data)))).tolist())
    return stats, grads(model)


@pytest.mark.parametrize(("name", "hyper"), OBJECTIVES)
@pytest.mark.parametrize("forward", ["padded", "packed"])
def test_optimised_forwards_give_the_plain_paths_loss_and_gradient(name, hyper, forward):
    data = long_tailed_rows(12, pairs=name != "sft")
    plain, plain_grads = run_step(name, hyper, "plain", data)
    fast, fast_grads = run_step(name, hyper, forward, data)
    assert fast.tokens == plain.tokens and fast.slots < plain.slots  # less padding, same real tokens
    for key in ("loss_terms", "weight", "logps_chosen", "logps_rejected", "margin"):
        assert getattr(fast, key) == pytest.approx(getattr(plain, key), rel=1e-6, abs=1e-5), (
            key
        )  # margin: a difference of ~100-nat sums
    assert fast.correct == plain.correct and fast.rows == plain.rows == 12
    for a, b in zip(
        fast_grads, plain_grads, strict=True
    ):  # log-probs are fp32 on both paths, summed differently
        assert torch.linalg.vector_norm(a - b) <= 1e-6 * torch.linalg.vector_norm(b)


def test_padding_frac_counts_both_sequences_of_a_pair():
    # one pair, chosen 4 tokens, rejected 10, one padded forward: 20 slots, 14 real -> 30% padding
    data = EncodedRows([Encoded([1, 2, 3, 4], 2, False)], [Encoded(list(range(1, 11)), 2, False)], [14], 0, 0)
    stats, _ = run_step("redi", {"alpha": 0.8}, "single", data)
    assert (stats.tokens, stats.slots) == (14, 20)
    assert stats.metrics(pairs=True)["train/padding_frac"] == pytest.approx(0.3)
