"""The step's statistics are named end to end: a field and its key; values travel by name; TRL's meanings."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from redi.loop.stats import FIELDS, NUM_STATS, RowContext, StepStats, pack, row_stat, row_sums
from redi.objectives import SequenceLogps, get_objective


def pair(lw: float, nw: int, ll: float, nl: int) -> SequenceLogps:
    return SequenceLogps(
        torch.tensor([lw], dtype=torch.float64),
        torch.tensor([nw]),
        torch.tensor([ll], dtype=torch.float64),
        torch.tensor([nl]),
    )


def stats_of(name: str, policy: SequenceLogps, reference: SequenceLogps | None, **hyper: float) -> StepStats:
    """One micro-batch's sums, packed and read back as the step does (plus the counts the step adds)."""
    out = get_objective(name)(policy, reference, **hyper)
    sums = row_sums(RowContext(policy, reference, out, hyper))
    rows = torch.tensor(float(len(policy.chosen_logps)), dtype=torch.float64)
    return StepStats.from_sums(pack({**sums, "rows": rows}).tolist())


def test_dpo_logs_trls_summed_logps_and_rewards_and_the_per_token_means():
    # policy (-10 over 4 tokens, -20 over 5), reference (-11, -18), beta 0.5:
    # rewards/chosen = 0.5 * (-10 + 11) = 0.5, rewards/rejected = 0.5 * (-20 + 18) = -1, margin 1.5
    m = stats_of("dpo", pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5).metrics(pairs=True)
    assert m["train/logps_chosen"] == pytest.approx(-10.0) and m["train/logps_rejected"] == pytest.approx(
        -20.0
    )
    assert m["train/logps_chosen_per_token"] == pytest.approx(-2.5)
    assert m["train/logps_rejected_per_token"] == pytest.approx(-4.0)
    assert m["train/rewards_chosen"] == pytest.approx(0.5) and m["train/rewards_rejected"] == pytest.approx(
        -1.0
    )
    assert m["train/margin"] == pytest.approx(1.5) and m["train/reward_accuracy"] == 1.0


def test_ipo_rewards_are_trls_beta_scaled_log_ratios():
    # IPO's own rewards are the log-ratios (1, -2); TRL logs beta * log-ratio: 0.5 and -1 at beta 0.5
    m = stats_of("ipo", pair(-10.0, 4, -20.0, 5), pair(-11.0, 4, -18.0, 5), beta=0.5).metrics(pairs=True)
    assert (m["train/rewards_chosen"], m["train/rewards_rejected"]) == (
        pytest.approx(0.5),
        pytest.approx(-1.0),
    )
    assert m["train/margin"] == pytest.approx(
        3.0
    )  # the objective's margin h, which IPO regresses to 1/(2 beta)


def test_reference_free_objectives_log_their_own_rewards():
    # SimPO: beta * per-token mean (-2.5, -4) at beta 2 -> -5, -8; REDI: the per-token means themselves
    simpo = stats_of("simpo", pair(-10.0, 4, -20.0, 5), None, beta=2.0, gamma=1.0).metrics(pairs=True)
    assert (simpo["train/rewards_chosen"], simpo["train/rewards_rejected"]) == (-5.0, -8.0)
    redi = stats_of("redi", pair(-10.0, 4, -20.0, 5), None, alpha=0.8).metrics(pairs=True)
    assert (redi["train/rewards_chosen"], redi["train/rewards_rejected"]) == (-2.5, -4.0)


def test_sft_logs_no_pair_metrics():
    policy = SequenceLogps(torch.tensor([-6.0, -2.0], dtype=torch.float64), torch.tensor([3, 2]))
    m = stats_of("sft", policy, None).metrics(pairs=False)
    assert m["train/logps_chosen"] == pytest.approx(-4.0)  # mean over 2 rows of the sums
    assert m["train/logps_chosen_per_token"] == pytest.approx(-1.5)  # mean of -2 and -1
    assert m["train/loss"] == pytest.approx(8.0 / 5.0)  # token mean over the batch
    assert not {k for k in m if "rejected" in k or "reward" in k or "margin" in k}


def test_values_travel_by_name_so_a_moved_field_shifts_nothing():
    named = {name: torch.tensor(float(i + 1), dtype=torch.float64) for i, name in enumerate(reversed(FIELDS))}
    stats = StepStats.from_sums(pack(named).tolist())
    assert {name: getattr(stats, name) for name in FIELDS} == {k: v.item() for k, v in named.items()}
    assert len(pack(named)) == NUM_STATS
    assert pack({"rows": torch.tensor(3.0, dtype=torch.float64)}).tolist()[FIELDS.index("rows")] == 3.0


def test_a_new_row_metric_is_one_field_and_its_key():
    @dataclasses.dataclass
    class WithLength(StepStats):
        chosen_length: float = row_stat("train/chosen_length", lambda r: r.policy.chosen_lengths)

    fields = {f.name: f for f in dataclasses.fields(WithLength)}
    policy = pair(-10.0, 4, -20.0, 5)
    out = get_objective("redi")(policy, None, alpha=0.8)
    values = fields["chosen_length"].metadata["of"](RowContext(policy, None, out, {"alpha": 0.8}))
    stats = WithLength(chosen_length=float(values.sum()), rows=1.0)
    assert stats.metrics(pairs=True)["train/chosen_length"] == 4.0
