"""IPO against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from redi.objectives import SequenceLogps, get_objective
from redi.validate import check_hyperparameters

CONF = Path(__file__).resolve().parents[2] / "conf"


def pair(lw: float, nw: int, ll: float, nl: int) -> SequenceLogps:
    return SequenceLogps(
        torch.tensor([lw], dtype=torch.float64),
        torch.tensor([nw]),
        torch.tensor([ll], dtype=torch.float64),
        torch.tensor([nl]),
    )


def test_ipo_by_hand():
    # policy (-10, -20), reference (-11, -18): h = (1) - (-2) = 3; beta 0.5: target 1/(2 * 0.5) = 1; (3 - 1)^2 = 4
    out = get_objective("ipo")(pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5)
    assert out.loss().item() == pytest.approx(4.0, rel=1e-12)
    assert out.rewards_chosen.item() == pytest.approx(1.0) and out.rewards_rejected.item() == pytest.approx(
        -2.0
    )


def test_ipo_is_zero_at_the_target_and_the_squared_target_at_the_reference():
    ref = pair(-12.0, 7, -30.0, 11)
    # policy = reference: h = 0, loss = (1/(2 beta))^2 = 5^2 at beta 0.1
    assert get_objective("ipo")(ref, ref, beta=0.1).loss().item() == pytest.approx(25.0, rel=1e-12)
    # margin exactly 1/(2 beta) = 5: chosen up 2, rejected down 3
    at_target = pair(-10.0, 7, -33.0, 11)
    assert get_objective("ipo")(at_target, ref, beta=0.1).loss().item() == pytest.approx(0.0, abs=1e-12)


def test_ipo_gradient_by_hand():
    # d/d logp_w of (h - t)^2 = 2 (h - t); h = 3, t = 1 -> 4, and -4 for logp_l
    lw = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    ll = torch.tensor([-20.0], dtype=torch.float64, requires_grad=True)
    policy = SequenceLogps(lw, torch.tensor([4]), ll, torch.tensor([5]))
    get_objective("ipo")(policy, pair(-11.0, 4, -18.0, 5), beta=0.5).loss().backward()
    assert lw.grad.item() == pytest.approx(4.0) and ll.grad.item() == pytest.approx(-4.0)


def test_ipo_declares_beta_and_a_reference():
    spec = get_objective("ipo")
    assert spec.needs_reference and spec.needs_pairs and spec.hyperparameters == ("beta",)
    with pytest.raises(ValueError, match="beta"):
        check_hyperparameters(spec, {"beta": 0.0})


def test_ipo_length_normalised_gives_trls_loss():
    # TRL's IPO (trl/trainer/dpo_trainer.py, loss_type="ipo") divides each summed log-ratio by its response length:
    # chosen (-10 + 11) / 4 = 0.25, rejected (-20 + 18) / 5 = -0.4, h = 0.65; beta 0.5: (0.65 - 1)^2 = 0.1225
    out = get_objective("ipo")(pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5, logps="mean")
    assert out.loss().item() == pytest.approx(0.1225, rel=1e-12)
    assert (out.rewards_chosen.item(), out.rewards_rejected.item()) == (
        pytest.approx(0.25),
        pytest.approx(-0.4),
    )
    # the default sums (the paper's equation): 4.0, as in test_ipo_by_hand
    assert (
        get_objective("ipo")(pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5).loss().item()
        == 4.0
    )


def test_objective_logps_is_a_checked_key_of_ipo():
    from hydra import compose, initialize_config_dir

    import redi.run  # noqa: F401  (registers schemas and resolvers)
    from redi.validate import ConfigError, validate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["objective=ipo", "objective.logps=mean"])
        assert validate(cfg)[1] == {"beta": 0.1, "logps": "mean"}
        assert validate(compose(config_name="config", overrides=["objective=ipo"]))[1]["logps"] == "sum"
        with pytest.raises(ConfigError, match="objective.logps='median': expected one of sum, mean"):
            validate(compose(config_name="config", overrides=["objective=ipo", "objective.logps=median"]))
