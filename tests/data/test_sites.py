"""Error sites and mistake-mix overlap (redi.data.synthetic.sites), on traces worked out by hand."""

from __future__ import annotations

import pytest

from redi.data.synthetic.sites import first_error_site, kind_overlap, kind_shares

GOOD = (
    "<think>\nSo 58 + 67.\n58 + 67 [8+7=15 5+6+1=12] = 125\n</think>\nTherefore, the value is \\boxed{125}."
)


def test_a_correct_trace_has_no_site():
    assert first_error_site(GOOD) is None
    assert first_error_site("58 + 67 = 125") is None  # a correct shortcut is not a mistake


def test_a_dropped_carry_is_found_at_its_first_wrong_character():
    bad = GOOD.replace("5+6+1=12] = 125", "5+6=11] = 115")
    site = first_error_site(bad)
    assert site is not None
    assert bad[: site.offset].endswith("58 + 67 [8+7=15 5+6")
    assert site.wrong == "=11] = 115" and site.correct == "+1=12] = 125"


def test_a_wrong_shortcut_is_compared_with_the_right_shortcut():
    site = first_error_site("So 58 + 67.\n58 + 67 = 135")
    assert site is not None and (site.wrong, site.correct) == ("35", "25")


def test_kind_overlap_by_hand():
    a = kind_shares(["column_slip"] * 3 + ["copy_slip"])
    b = kind_shares(["column_slip", "stop_early"])
    assert a == {"column_slip": 0.75, "copy_slip": 0.25}
    assert kind_overlap(a, b) == pytest.approx(0.5)
    assert kind_overlap(a, a) == pytest.approx(1.0) and kind_overlap(a, {"truncated": 1.0}) == 0.0
    assert kind_shares([]) == {}
