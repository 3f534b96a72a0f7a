"""Per-sequence log-probs: only response tokens count, chosen/rejected split, lengths include EOS; the chunked
head equals the full-logits path in values and gradients (fp32, bf16 autocast, small chunks)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from redi.data.tokenize import Encoded, TokenBatch, collate
from redi.loop.logprobs import (
    chunked_head_logps,
    plain_sequence_logps,
    policy_logps,
    sequence_logps,
    token_logps,
)


def tiny_qwen(vocab: int = 64, tie: bool = True, seed: int = 0) -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        tie_word_embeddings=tie,
        attn_implementation="sdpa",
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


class UniformOverTwo(torch.nn.Module):
    """A 'model' whose next-token distribution is log-uniform over token ids {0, 1} (vocab 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.lm_head = torch.nn.Linear(1, 4, bias=True)
        with torch.no_grad():
            self.lm_head.weight.zero_()
            self.lm_head.bias.copy_(torch.tensor([0.0, 0.0, -1e9, -1e9]))

    def get_output_embeddings(self) -> torch.nn.Linear:
        return self.lm_head

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        return self.lm_head(torch.ones(*input_ids.shape, 1))


def test_token_logps_match_log_softmax():
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    expected = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    assert torch.allclose(token_logps(logits, ids), expected, atol=1e-6)


def test_only_response_tokens_count_and_pairs_split():
    # prompt of 3 tokens, responses of 2 and 4 tokens (EOS included); every token has log-prob ln(1/2)
    chosen = Encoded([2, 3, 2, 0, 1], response_start=3, truncated=False)
    rejected = Encoded([2, 3, 2, 1, 1, 0, 1], response_start=3, truncated=False)
    batch = collate([chosen, rejected], pad_id=3, num_pairs=1)
    assert batch.input_ids.shape == (2, 7)
    out = policy_logps(UniformOverTwo(), batch)
    assert out.chosen_lengths.tolist() == [2]
    assert out.rejected_lengths.tolist() == [4]
    assert out.chosen_logps.item() == pytest.approx(2 * math.log(0.5), abs=1e-6)
    assert out.rejected_logps.item() == pytest.approx(4 * math.log(0.5), abs=1e-6)


@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_chunked_head_values_and_gradients_equal_log_softmax(chunk_rows):
    torch.manual_seed(1)
    hidden = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(11, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 11, (7,))
    upstream = torch.randn(7, dtype=torch.float64)
    got = chunked_head_logps(hidden, weight, bias, targets, chunk_elements=chunk_rows * 11)
    grads = torch.autograd.grad((got * upstream).sum(), (hidden, weight, bias))
    ref = torch.log_softmax(hidden @ weight.T + bias, -1).gather(1, targets[:, None]).squeeze(1)
    expected = torch.autograd.grad((ref * upstream).sum(), (hidden, weight, bias))
    assert torch.allclose(got.double(), ref, atol=1e-5)
    for g, e in zip(grads, expected, strict=True):
        assert torch.allclose(g, e, atol=1e-5)


def _batch() -> TokenBatch:
    seqs = [
        Encoded(list(range(3, 20)), 5, False),
        Encoded(list(range(10, 19)), 2, False),
        Encoded([7, 8, 9, 10, 11, 12], 3, False),
    ]
    return collate(seqs, pad_id=0)


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("chunk", [64 * 4, 1 << 23])
def test_model_logps_and_gradients_equal_the_full_logits_path(tie, chunk):
    model, batch = tiny_qwen(tie=tie), _batch()
    weights = torch.tensor([1.0, -2.0, 0.5])
    got, lengths = sequence_logps(model, batch, chunk_elements=chunk)
    (got * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    ref, ref_lengths = plain_sequence_logps(model, batch)
    (ref * weights).sum().backward()
    assert torch.equal(lengths, ref_lengths)
    assert lengths.tolist() == [12, 7, 3]  # response tokens (EOS included) of each sequence
    assert torch.allclose(got, ref, atol=1e-4)
    for name, p in model.named_parameters():
        assert torch.allclose(grads[name], p.grad, atol=1e-5), name


def test_bf16_autocast_matches_the_full_logits_path_within_bf16_tolerance():
    model, batch = tiny_qwen(), _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = sequence_logps(model, batch, chunk_elements=64 * 2)
        ref, _ = plain_sequence_logps(model, batch)
    assert got.dtype == torch.float32
    assert torch.allclose(got, ref.float(), rtol=2e-2, atol=0.2)
    got.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_the_head_is_restored_after_the_call():
    model = tiny_qwen()
    sequence_logps(model, _batch())
    assert "forward" not in vars(model.lm_head)
    assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 64)
