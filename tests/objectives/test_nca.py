"""NCA (pairwise) against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from redi.objectives import SequenceLogps, get_objective


def pair(lw: float, nw: int, ll: float, nl: int) -> SequenceLogps:
    return SequenceLogps(
        torch.tensor([lw], dtype=torch.float64),
        torch.tensor([nw]),
        torch.tensor([ll], dtype=torch.float64),
        torch.tensor([nl]),
    )


def softplus(x: float) -> float:  # -log sigmoid(-x)
    return math.log1p(math.exp(x))


def test_nca_is_two_ln2_when_policy_is_reference():
    # r_w = r_l = 0: -log(1/2) - 1/2 log(1/2) - 1/2 log(1/2) = 2 ln 2
    p = pair(-12.0, 7, -30.0, 11)
    assert get_objective("nca")(p, p, beta=0.1).loss().item() == pytest.approx(2 * math.log(2), rel=1e-12)


def test_nca_by_hand():
    # policy (-10, -20), reference (-11, -18), beta 0.5: r_w = 0.5, r_l = -1
    # softplus(-0.5) + 1/2 softplus(0.5) + 1/2 softplus(-1) = 0.47408 + 0.48704 + 0.15663 = 1.11775
    out = get_objective("nca")(pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5)
    expected = softplus(-0.5) + 0.5 * softplus(0.5) + 0.5 * softplus(-1.0)
    assert out.loss().item() == pytest.approx(expected, rel=1e-12)
    assert out.loss().item() == pytest.approx(1.11775, abs=1e-5)
    assert out.rewards_chosen.item() == pytest.approx(0.5) and out.rewards_rejected.item() == pytest.approx(
        -1.0
    )


def test_nca_pulls_the_chosen_up_even_when_the_margin_is_wide():
    # d loss / d logp_w at r_w = 0 is beta * (-(1 - 1/2) + 1/2 * 1/2) = -beta / 4: the chosen still goes up
    lw = torch.tensor([-11.0], dtype=torch.float64, requires_grad=True)
    policy = SequenceLogps(
        lw, torch.tensor([4]), torch.tensor([-60.0], dtype=torch.float64), torch.tensor([5])
    )
    get_objective("nca")(policy, pair(-11.0, 4, -18.0, 5), beta=0.5).loss().backward()
    assert lw.grad.item() == pytest.approx(-0.5 / 4, rel=1e-12)


def test_nca_declares_beta_and_a_reference():
    spec = get_objective("nca")
    assert spec.needs_reference and spec.needs_pairs and spec.hyperparameters == ("beta",)
