"""The collapse rule: both log-probs falling together AND accuracy dropping; state survives a checkpoint."""

from __future__ import annotations

from redi.config import CollapseConfig
from redi.loop.collapse import CollapseDetector


def feed(det: CollapseDetector, start: int, chosen: list[float], rejected: list[float]) -> list[int]:
    fired = []
    for i, (c, r) in enumerate(zip(chosen, rejected, strict=True), start=start):
        if det.observe_step(i, c, r):
            fired.append(i)
    return fired


def test_fires_when_both_fall_and_accuracy_drops():
    det = CollapseDetector(CollapseConfig(window=2, logp_drop=1.0, accuracy_drop=0.05))
    det.observe_eval(0, 0.60)
    assert (
        feed(det, 1, [-0.2, -0.2, -1.5, -2.0], [-0.4, -0.4, -2.0, -3.0]) == []
    )  # accuracy has not dropped yet
    assert det.observe_eval(4, 0.50)  # 0.10 below the best: now it is a collapse
    assert det.collapsed_at == 4 and "accuracy 0.500 vs best 0.600" in det.reason


def test_rejected_falling_alone_is_not_a_collapse():
    det = CollapseDetector(CollapseConfig(window=2, logp_drop=1.0, require_accuracy_drop=False))
    assert feed(det, 1, [-0.2, -0.2, -0.2, -0.3], [-0.4, -0.4, -3.0, -4.0]) == []
    assert feed(det, 5, [-2.0, -2.5], [-5.0, -6.0]) == [6]


def test_state_round_trip_decides_identically():
    cfg = CollapseConfig(window=3, logp_drop=0.5, require_accuracy_drop=False)
    a, b = CollapseDetector(cfg), CollapseDetector(cfg)
    chosen = [-0.1, -0.1, -0.1, -0.3, -0.5, -0.9, -1.2]
    rejected = [-0.2, -0.2, -0.2, -0.6, -0.9, -1.3, -1.6]
    feed(a, 1, chosen[:4], rejected[:4])
    b.load_state_dict(a.state_dict())
    assert feed(a, 5, chosen[4:], rejected[4:]) == feed(b, 5, chosen[4:], rejected[4:]) != []


def test_disabled_never_fires():
    det = CollapseDetector(CollapseConfig(enabled=False, window=1, require_accuracy_drop=False))
    assert feed(det, 1, [0.0, -9.0], [0.0, -9.0]) == []
