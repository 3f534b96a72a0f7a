"""The collapse rules on hand-built metric sequences; the detector's state survives a checkpoint.

The sequences mimic the miniature ablation (README): 40 steps, an evaluation every 10, chosen per-token log-prob
near -0.06 at the start. A collapsing alpha = 1 run's chosen log-prob falls to about -0.17 and its accuracy from
0.598 to 0.235; a stable control stays within -0.05..-0.07 and gains accuracy.
"""

from __future__ import annotations

import pytest

from redi.config import CollapseConfig
from redi.loop.collapse import CollapseDetector

# a fixed, hand-written noise pattern (per-token log-prob of a 16-pair batch varies by about +-0.02)
NOISE = [0.012, -0.018, 0.004, 0.011, -0.009, -0.015, 0.017, 0.002, -0.020, 0.008]  # first 5 sum to 0
EVAL_STEPS = (0, 10, 20, 30, 40)


def run(
    det: CollapseDetector, chosen: list[float], rejected: list[float], acc: dict[int, float]
) -> int | None:
    """Feed steps 1..N in the trainer's order (step metrics, then the evaluation at that step); the firing step."""
    fired = []
    if 0 in acc and det.observe_eval(0, acc[0]):
        fired.append(0)
    for step, (c, r) in enumerate(zip(chosen, rejected, strict=True), start=1):
        if det.observe_step(step, c, r):
            fired.append(step)
        if step in acc and det.observe_eval(step, acc[step]):
            fired.append(step)
    assert len(fired) <= 1, "the rule fires at most once"
    return fired[0] if fired else None


def collapsing() -> tuple[list[float], list[float], dict[int, float]]:
    """alpha = 1 at the high lr: chosen -0.06 flat for 10 steps, then down to -0.17 by step 40; accuracy falls."""
    chosen = [-0.06 + NOISE[s % 10] * 0.3 if s < 10 else -0.06 - 0.11 * (s - 9) / 31 for s in range(40)]
    rejected = [-0.5 + NOISE[(s + 3) % 10] * 10 - 0.012 * max(0, s - 9) for s in range(40)]
    return chosen, rejected, dict(zip(EVAL_STEPS, [0.598, 0.50, 0.30, 0.27, 0.235], strict=True))


def stable() -> tuple[list[float], list[float], dict[int, float]]:
    """The control: chosen between -0.05 and -0.07, rejected flat, accuracy gaining two points."""
    chosen = [-0.06 + 0.01 * ((s % 3) - 1) for s in range(40)]
    rejected = [-0.5 - 0.001 * s for s in range(40)]
    return chosen, rejected, dict(zip(EVAL_STEPS, [0.598, 0.61, 0.615, 0.62, 0.617], strict=True))


def noisy_stable() -> tuple[list[float], list[float], dict[int, float]]:
    """Stable but noisy: +-0.02 per-step noise on a -0.06 chosen log-prob, accuracy dipping 7 points once."""
    chosen = [-0.06 + NOISE[s % 10] for s in range(40)]
    rejected = [-0.5 + 15 * NOISE[(s + 5) % 10] for s in range(40)]
    return chosen, rejected, dict(zip(EVAL_STEPS, [0.598, 0.62, 0.55, 0.60, 0.61], strict=True))


def test_relative_rule_fires_on_the_collapsing_run():
    chosen, rejected, acc = collapsing()
    det = CollapseDetector(CollapseConfig())  # relative, window 5, loss 2x, accuracy 0.05 below the peak
    # start: mean of steps 1-5 = 0.06 (the noise sums to 0). Step k >= 11 has log-loss 0.06 + 0.11 (k - 10) / 31,
    # so the last 5 average 0.06 + 0.11 (k - 12) / 31, above 2 x 0.06 first when k - 12 > 16.9: step 29 (0.1203);
    # the accuracy is by then 0.298 below its peak (step 20: 0.30 against 0.598 at step 0)
    assert run(det, chosen, rejected, acc) == 29
    assert det.reason.startswith(
        "collapse at step 29 (relative rule): chosen log-loss 0.120 nats/token is 2.01x"
    )
    assert "0.300 is 0.298 below its peak 0.598" in det.reason
    summary = det.summary()
    assert summary["collapsed"] and summary["collapse_step"] == 29 and summary["collapse_rule"] == "relative"
    assert summary["collapse_max_loss_ratio"] == pytest.approx((0.06 + 0.11 * 28 / 31) / 0.06)  # at step 40


def test_relative_rule_never_fires_on_stable_runs():
    for make in (stable, noisy_stable):
        chosen, rejected, acc = make()
        det = CollapseDetector(CollapseConfig())
        assert run(det, chosen, rejected, acc) is None, make.__name__
        assert not det.summary()["collapsed"]
        assert det.summary()["collapse_max_loss_ratio"] < 1.5


def test_the_old_absolute_rule_never_fires_at_this_scale():
    chosen, rejected, acc = collapsing()
    det = CollapseDetector(CollapseConfig(rule="absolute"))  # 1 nat/token below the start
    assert run(det, chosen, rejected, acc) is None


def test_both_conditions_are_needed():
    chosen, rejected, _ = collapsing()
    steady_acc = dict(zip(EVAL_STEPS, [0.598, 0.60, 0.59, 0.60, 0.58], strict=True))  # never 0.05 below 0.60
    assert run(CollapseDetector(CollapseConfig()), chosen, rejected, steady_acc) is None  # benign decline
    _, _, falling = collapsing()
    flat, flat_r, _ = stable()
    assert run(CollapseDetector(CollapseConfig()), flat, flat_r, falling) is None  # accuracy alone
    # without the accuracy condition the likelihood alone decides
    det = CollapseDetector(CollapseConfig(require_accuracy_drop=False))
    assert run(det, chosen, rejected, steady_acc) == 29


def test_thresholds_are_configurable():
    chosen, rejected, acc = collapsing()
    assert run(CollapseDetector(CollapseConfig(loss_ratio=3.0)), chosen, rejected, acc) is None
    # 1.5 x 0.06 = 0.09: first when k - 12 > 8.45, step 21
    assert run(CollapseDetector(CollapseConfig(loss_ratio=1.5)), chosen, rejected, acc) == 21
    assert run(CollapseDetector(CollapseConfig(accuracy_drop=0.4)), chosen, rejected, acc) is None


def test_absolute_rule_fires_when_both_fall_and_accuracy_drops():
    det = CollapseDetector(CollapseConfig(rule="absolute", window=2, logp_drop=1.0, accuracy_drop=0.05))
    det.observe_eval(0, 0.60)
    for i, (c, r) in enumerate(zip([-0.2, -0.2, -1.5, -2.0], [-0.4, -0.4, -2.0, -3.0], strict=True), 1):
        assert not det.observe_step(i, c, r)  # accuracy has not dropped yet
    assert det.observe_eval(4, 0.50)
    assert det.collapsed_at == 4 and "rejected 2.10" in det.reason


def test_state_round_trip_decides_identically():
    chosen, rejected, acc = collapsing()
    a = CollapseDetector(CollapseConfig())
    a.observe_eval(0, acc[0])
    for s in range(1, 21):
        a.observe_step(s, chosen[s - 1], rejected[s - 1])
        if s in acc:
            a.observe_eval(s, acc[s])
    b = CollapseDetector(CollapseConfig())
    b.load_state_dict(a.state_dict())
    rest = {k: v for k, v in acc.items() if k > 20}
    fired = []
    for det in (a, b):
        out = None
        for s in range(21, 41):
            if det.observe_step(s, chosen[s - 1], rejected[s - 1]) or (
                s in rest and det.observe_eval(s, rest[s])
            ):
                out = s
        fired.append(out)
    assert fired == [29, 29] and a.summary() == b.summary()


def test_disabled_never_fires_and_bad_settings_name_the_key():
    chosen, rejected, acc = collapsing()
    det = CollapseDetector(CollapseConfig(enabled=False))
    assert run(det, chosen, rejected, acc) is None and det.summary()["collapse_rule"] == "off"
    for bad, key in (
        (dict(rule="fast"), "rule"),
        (dict(loss_ratio=1.0), "loss_ratio"),
        (dict(window=0), "window"),
    ):
        with pytest.raises(ValueError, match=f"trainer.collapse.{key}"):
            CollapseDetector(CollapseConfig(**bad))


def test_the_loop_feeds_the_rule_the_curve_subset_also_at_the_final_evaluation():
    """Curve points score the first 300 problems, the final all 1,000 (harder: 0.12) and the same 300 again (0.20):
    the rule compares 0.20 with 0.20, not the 8-point fall from changing problems (issue 22)."""
    from types import SimpleNamespace

    from redi.infra.distributed import DistEnv
    from redi.loop.train import EvalSchedule, _evaluate

    scores = {
        0: {"eval/s/curve/pass@1": 0.20},
        10: {"eval/s/curve/pass@1": 0.21},
        20: {"eval/s/pass@1": 0.12, "eval/s/curve/pass@1": 0.20},
    }
    logged = []
    session = SimpleNamespace(env=DistEnv(), tracker=SimpleNamespace(log=lambda m, step: logged.append(step)))
    state = SimpleNamespace(model=object(), last_eval_step=None, eval_metrics={}, step=0)
    state.detector = CollapseDetector(CollapseConfig())
    evals = EvalSchedule(evaluate=lambda model, step, final: scores[step])
    for step in (0, 10, 20):
        state.step = step
        _evaluate(state, evals, session, final=step == 20)
    assert (state.detector.best_accuracy, state.detector.last_accuracy) == (0.21, 0.20)
    assert logged == [0, 10, 20]


@pytest.mark.parametrize(
    ("overrides", "expect"),
    [
        ([], None),  # step-0 evaluation: the rule sees the start
        (["eval.at_start=false", "eval.every_n_steps=0"], "cannot fire"),
        (["eval.at_start=false", "eval.every_n_steps=20"], "from step 20 on"),
        (
            ["eval.at_start=false", "eval.every_n_steps=0", "trainer.collapse.require_accuracy_drop=false"],
            None,
        ),
        # SFT has no pairs, so no step-0 evaluation to miss
        (["eval.at_start=false", "eval.every_n_steps=0", "objective=sft"], None),
    ],
)
def test_the_preflight_says_when_the_rule_cannot_see_the_start(overrides, expect, caplog):
    """validate() warns (never refuses) when the evaluation schedule leaves the accuracy condition blind."""
    from hydra import compose, initialize_config_dir

    import redi.run  # noqa: F401  (registers schemas and resolvers)
    from redi.loop.checks import collapse_rule_notes
    from redi.validate import validate

    conf = __import__("pathlib").Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    with caplog.at_level("WARNING", logger="redi"):
        spec, _ = validate(cfg)
    notes = collapse_rule_notes(cfg, spec.needs_pairs)
    if expect is None:
        assert notes == [] and "trainer.collapse" not in caplog.text
    else:
        assert len(notes) == 1 and expect in notes[0] and notes[0] in caplog.text
