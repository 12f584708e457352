"""Reference labels from 3 raters, and inter-rater reliability (ICC(2,k), bias)."""

from __future__ import annotations

import pytest

from pedpain.clinical.consensus import consensus, pain_level, reliability


def test_consensus_is_the_median_and_flags_spread_over_two_points() -> None:
    c = consensus([3.0, 5.0, 4.0])
    assert c.score == 4.0 and c.spread == 2.0 and c.n_ratings == 3
    assert c.needs_adjudication is False  # exactly 2 points: agreement
    wide = consensus([2.0, 4.5, 3.0])
    assert wide.score == 3.0 and wide.needs_adjudication is True
    assert consensus([]).score is None


def test_pain_levels() -> None:
    assert [pain_level(x) for x in (None, 0, 0.9, 1, 3.9, 4, 6.9, 7, 10)] == [
        "unknown",
        "none",
        "none",
        "mild",
        "mild",
        "moderate",
        "moderate",
        "severe",
        "severe",
    ]


# 4 sessions x 3 raters. By hand (two-way ANOVA): grand mean 4.5; session means
# 16/3, 10/3, 6, 10/3 -> SS_rows = 3 * 5.6667 = 17, MS_rows = 17/3; rater means 7.5, 2, 4
# -> SS_cols = 4 * 15.5 = 62, MS_cols = 31; SS_total = 83 -> SS_err = 4, MS_err = 4/6.
# ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n) = 5 / (17/3 + 30.3333/4) = 5 / 13.25.
TABLE = {"S1": (9, 2, 5), "S2": (6, 1, 3), "S3": (8, 4, 6), "S4": (7, 1, 2)}


def triples() -> list[tuple[str, str, float]]:
    return [(s, r, float(v)) for s, row in TABLE.items() for r, v in zip("ABC", row, strict=True)]


def test_icc_2k_matches_a_hand_computed_example() -> None:
    rel = reliability(triples())
    assert rel.icc2k == pytest.approx(5 / 13.25, abs=1e-9)
    # ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)
    msr, mse, msc = 17 / 3, 4 / 6, 31.0
    assert rel.icc21 == pytest.approx((msr - mse) / (msr + 2 * mse + 3 * (msc - mse) / 4))
    assert rel.design == "crossed" and rel.n_sessions == 4 and rel.n_raters == 3
    assert rel.icc2k_ci95 is not None and rel.icc2k_ci95[0] < rel.icc2k < rel.icc2k_ci95[1]


def test_per_rater_bias_is_mean_difference_from_session_median() -> None:
    bias = {r["rater"]: r for r in reliability(triples()).per_rater}
    # Medians: 5, 3, 6, 2. Rater A: 9-5, 6-3, 8-6, 7-2 -> mean 3.5.
    assert bias["A"]["bias"] == pytest.approx(3.5)
    assert bias["B"]["bias"] == pytest.approx((-3 - 2 - 2 - 1) / 4)
    assert bias["C"]["bias"] == pytest.approx(0.0)
    assert bias["A"]["n"] == 4


def test_changing_rater_teams_fall_back_to_slots() -> None:
    rows = [
        (s, f"{team}{r}", float(v))
        for (s, row), team in zip(TABLE.items(), ("X", "Y", "Z", "W"), strict=True)
        for r, v in zip("ABC", row, strict=True)
    ]
    rel = reliability(rows)
    assert rel.design == "slots" and rel.n_raters == 3 and rel.icc2k is not None


def test_reliability_needs_data() -> None:
    assert reliability([]).icc2k is None
    assert reliability([("S1", "A", 1.0), ("S1", "B", 1.0)]).icc2k is None
