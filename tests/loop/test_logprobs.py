"""Per-sequence log-probs: only response tokens count, chosen/rejected split, lengths include EOS."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from redi.data.tokenize import Encoded, collate
from redi.loop.logprobs import policy_logps, token_logps


class UniformOverTwo(torch.nn.Module):
    """A 'model' whose next-token distribution is log-uniform over token ids {0, 1} (vocab 4)."""

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        n, t = input_ids.shape
        logits = torch.full((n, t, 4), -1e9)
        logits[..., :2] = 0.0
        return SimpleNamespace(logits=logits)


def test_token_logps_match_log_softmax():
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    expected = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    assert torch.allclose(token_logps(logits, ids), expected, atol=1e-6)


def test_chunked_equals_whole():
    logits = torch.randn(5, 6, 11)
    ids = torch.randint(0, 11, (5, 6))
    assert torch.allclose(
        token_logps(logits, ids, max_chunk_elements=60), token_logps(logits, ids), atol=1e-6
    )


def test_only_response_tokens_count_and_pairs_split():
    # prompt of 3 tokens, responses of 2 and 4 tokens (EOS included); every token has log-prob ln(1/2)
    chosen = Encoded([2, 3, 2, 0, 1], response_start=3, truncated=False)
    rejected = Encoded([2, 3, 2, 1, 1, 0, 1], response_start=3, truncated=False)
    batch = collate([chosen, rejected], pad_id=3, num_pairs=1)
    assert batch.input_ids.shape == (2, 7)
    out = policy_logps(UniformOverTwo(), batch)
    assert out.chosen_lengths.tolist() == [2]
    assert out.rejected_lengths.tolist() == [4]
    assert out.chosen_logps.item() == torch.tensor(2 * math.log(0.5)).item()
    assert out.rejected_logps.item() == torch.tensor(4 * math.log(0.5)).item()
    assert out.chosen_mean.item() == out.rejected_mean.item()
