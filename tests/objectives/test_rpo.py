"""RPO (DPO + NLL on the chosen) against values worked out by hand; its new root key needs no edit to redi/config/."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import redi.run  # noqa: F401  (registers schemas and resolvers)
from redi.objectives import SequenceLogps, get_objective
from redi.validate import ConfigError, validate

CONF = Path(__file__).resolve().parents[2] / "conf"


def pair(lw: float, nw: int, ll: float, nl: int) -> SequenceLogps:
    return SequenceLogps(
        torch.tensor([lw], dtype=torch.float64),
        torch.tensor([nw]),
        torch.tensor([ll], dtype=torch.float64),
        torch.tensor([nl]),
    )


def test_rpo_by_hand():
    # DPO part: z = 0.5 * ((-10 + 11) - (-20 + 18)) = 1.5 -> log(1 + e^-1.5) = 0.20141
    # NLL part: nll_weight 1 * -(-10 / 4) = 2.5 -> 2.70141
    out = get_objective("rpo")(pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5, nll_weight=1.0)
    assert out.loss().item() == pytest.approx(math.log1p(math.exp(-1.5)) + 2.5, rel=1e-12)
    assert out.loss().item() == pytest.approx(2.70141, abs=1e-5)


def test_rpo_with_no_nll_is_dpo():
    p, r = pair(-7.0, 3, -9.0, 6), pair(-8.0, 3, -8.5, 6)
    rpo = get_objective("rpo")(p, r, beta=0.2, nll_weight=0.0).loss().item()
    assert rpo == pytest.approx(get_objective("dpo")(p, r, beta=0.2).loss().item(), rel=1e-12)


def test_rpo_nll_gradient_is_per_token():
    # d/d logp_w of -w * logp_w/|y_w| is -w/|y_w| = -0.5/4 on top of DPO's -beta * sigmoid(-z)
    lw = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    policy = SequenceLogps(
        lw, torch.tensor([4]), torch.tensor([-20.0], dtype=torch.float64), torch.tensor([5])
    )
    get_objective("rpo")(policy, pair(-11.0, 4, -18.0, 5), beta=0.5, nll_weight=0.5).loss().backward()
    dpo_part = -0.5 / (1 + math.exp(1.5))
    assert lw.grad.item() == pytest.approx(dpo_part - 0.5 / 4, rel=1e-12)


def test_nll_weight_is_a_root_key_only_rpo_accepts():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["objective=rpo", "nll_weight=0.25", "beta=0.05"])
        assert cfg.objective.nll_weight == 0.25 and cfg.objective.beta == 0.05
        assert validate(cfg)[1] == {"beta": 0.05, "nll_weight": 0.25}
        assert (
            compose(config_name="config", overrides=["objective=rpo"]).nll_weight == 1.0
        )  # the declared default
        with pytest.raises(ConfigError, match="nll_weight=0.25: objective 'dpo' does not use this key"):
            validate(compose(config_name="config", overrides=["objective=dpo", "nll_weight=0.25"]))
        with pytest.raises(ConfigError, match="nll_weight=-1"):
            validate(compose(config_name="config", overrides=["objective=rpo", "nll_weight=-1"]))
