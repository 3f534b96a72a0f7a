"""Each objective's loss against values worked out by hand (including PAPER.md's examples)."""

from __future__ import annotations

import math

import pytest
import torch

from redi.objectives import ObjectiveConfigError, SequenceLogps, get_objective
from redi.validate import check_hyperparameters


def pair(lw: float, nw: int, ll: float, nl: int) -> SequenceLogps:
    """One pair with summed log-probs lw, ll over nw, nl tokens."""
    return SequenceLogps(
        torch.tensor([lw], dtype=torch.float64),
        torch.tensor([nw]),
        torch.tensor([ll], dtype=torch.float64),
        torch.tensor([nl]),
    )


def test_paper_example_simpo():
    # logp_w/|y_w| = -0.5, logp_l/|y_l| = -0.8, beta 2, gamma 1: -log sigmoid(2 * 0.3 - 1) = -log sigmoid(-0.4)
    out = get_objective("simpo")(pair(-5.0, 10, -8.0, 10), beta=2.0, gamma=1.0)
    assert out.loss().item() == pytest.approx(0.91302, abs=1e-5)
    assert out.loss().item() == pytest.approx(math.log1p(math.exp(0.4)), rel=1e-12)


def test_paper_example_redi():
    # -(-0.5) + 0.8 * (-0.8) = -0.14
    out = get_objective("redi")(pair(-5.0, 10, -8.0, 10), alpha=0.8)
    assert out.loss().item() == pytest.approx(-0.14, abs=1e-12)


def test_dpo_equals_ln2_when_policy_is_reference():
    p = pair(-12.0, 7, -30.0, 11)
    out = get_objective("dpo")(p, p, beta=0.1)
    assert out.loss().item() == pytest.approx(math.log(2), abs=1e-12)


def test_dpo_by_hand():
    # policy (-10, -20), reference (-11, -18), beta 0.5: z = 0.5 * ((1) - (-2)) = 1.5
    out = get_objective("dpo")(pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5)
    assert out.loss().item() == pytest.approx(math.log1p(math.exp(-1.5)), rel=1e-12)
    assert out.rewards_chosen.item() == pytest.approx(0.5)
    assert out.rewards_rejected.item() == pytest.approx(-1.0)


def test_symmetric_is_redi_alpha_one():
    # -(-6/3) + (-4/8) = 2 - 0.5 = 1.5; lengths divide each sequence's own sum
    out = get_objective("redi")(pair(-6.0, 3, -4.0, 8), alpha=1.0)
    assert out.loss().item() == pytest.approx(1.5, rel=1e-12)


def test_batch_mean_over_pairs():
    p = SequenceLogps(
        torch.tensor([-2.0, -9.0], dtype=torch.float64),
        torch.tensor([2, 3]),
        torch.tensor([-4.0, -1.0], dtype=torch.float64),
        torch.tensor([4, 1]),
    )
    # per pair: 1 + 0.5 * (-1) = 0.5 and 3 + 0.5 * (-1) = 2.5 -> mean 1.5
    assert get_objective("redi")(p, alpha=0.5).loss().item() == pytest.approx(1.5)


def test_sft_is_token_mean_over_the_batch():
    # two sequences: -6 over 3 tokens and -3 over 1 token -> 9 / 4 (a per-sequence mean would give 2.5)
    p = SequenceLogps(torch.tensor([-6.0, -3.0], dtype=torch.float64), torch.tensor([3, 1]))
    assert get_objective("sft")(p).loss().item() == pytest.approx(9.0 / 4.0)


def test_redi_alpha_zero_has_the_gradient_of_length_normalised_sft():
    lw = torch.tensor([-6.0, -3.0], dtype=torch.float64, requires_grad=True)
    ll = torch.tensor([-5.0, -2.0], dtype=torch.float64, requires_grad=True)
    p = SequenceLogps(lw, torch.tensor([3, 2]), ll, torch.tensor([5, 4]))
    get_objective("redi")(p, alpha=0.0).loss().backward()
    # d/d lw_i of mean_i(-lw_i/|y_w,i|) = -1 / (B |y_w,i|); the negatives get no gradient
    assert torch.allclose(lw.grad, torch.tensor([-1 / 6, -1 / 4], dtype=torch.float64))
    assert torch.all(ll.grad == 0)


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("redi", {"alpha": 1.5}, "alpha"),
        ("redi", {"alpha": -0.1}, "alpha"),
        ("dpo", {"beta": 0.0}, "beta"),
        ("simpo", {"beta": 2.0, "gamma": -1.0}, "gamma"),
        ("simpo", {"beta": None, "gamma": 1.0}, "beta"),
    ],
)
def test_hyperparameters_out_of_range_name_the_key(name, params, key):
    with pytest.raises(ObjectiveConfigError, match=key):
        check_hyperparameters(get_objective(name), params)


def test_unknown_objective_lists_the_known_ones():
    with pytest.raises(ObjectiveConfigError, match="known: .*redi"):
        get_objective("ppo")


def test_declared_needs():
    assert get_objective("dpo").needs_reference and get_objective("dpo").needs_pairs
    assert not get_objective("redi").needs_reference
    assert not get_objective("sft").needs_pairs
    assert get_objective("simpo").hyperparameters == ("beta", "gamma")
