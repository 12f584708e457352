"""Reference labels from 3 raters, and inter-rater reliability (ICC by design, bias)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pedpain.clinical import icc
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


# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges, and their Table 4 values.
SF_TABLE = [(9, 2, 5, 8), (6, 1, 3, 2), (8, 4, 6, 8), (7, 1, 2, 6), (10, 5, 6, 9), (6, 2, 4, 7)]
SF_PUBLISHED = {
    "ICC(1,1)": 0.17,
    "ICC(2,1)": 0.29,
    "ICC(3,1)": 0.71,
    "ICC(1,k)": 0.44,
    "ICC(2,k)": 0.62,
    "ICC(3,k)": 0.91,
}


def sf_triples(drop: tuple[str, tuple[int, ...]] | None = None) -> list[tuple[str, str, float]]:
    rows = [
        (f"T{t + 1}", judge, float(v))
        for t, row in enumerate(SF_TABLE)
        for judge, v in zip("ABCD", row, strict=True)
    ]
    if drop is not None:
        judge, targets = drop
        rows = [r for r in rows if not (r[1] == judge and int(r[0][1:]) in targets)]
    return rows


def values(rel_estimates: dict[str, dict[str, object]]) -> dict[str, float]:
    return {name: float(e["value"]) for name, e in rel_estimates.items()}  # type: ignore[arg-type]


def test_shrout_fleiss_table_2_reproduces_the_published_coefficients() -> None:
    two = reliability(sf_triples())
    one = reliability(sf_triples(), model="one-way")
    got = values(two.estimates) | values(one.estimates)
    assert {name: round(v, 2) for name, v in got.items()} == SF_PUBLISHED
    assert two.model == "two-way" and two.method == "anova" and two.design == "crossed"
    assert one.model == "one-way" and two.k == one.k == 4.0
    assert two.to_dict()["icc"] == "ICC(2,k)" and one.to_dict()["icc"] == "ICC(1,k)"


def test_intervals_are_full_precision_and_match_pingouin() -> None:
    import pandas as pd
    import pingouin

    frame = pd.DataFrame(sf_triples(), columns=["t", "j", "y"])
    ref = pingouin.intraclass_corr(frame, targets="t", raters="j", ratings="y").set_index("Type")
    # pingouin's labels: A = absolute agreement (case 2), C = consistency (case 3).
    names = {
        "ICC(1,1)": "ICC(1,1)",
        "ICC(A,1)": "ICC(2,1)",
        "ICC(C,1)": "ICC(3,1)",
        "ICC(1,k)": "ICC(1,k)",
        "ICC(A,k)": "ICC(2,k)",
        "ICC(C,k)": "ICC(3,k)",
    }
    ours = (
        reliability(sf_triples()).estimates | reliability(sf_triples(), model="one-way").estimates
    )
    for theirs, name in names.items():
        row = ref.loc[theirs]
        assert ours[name]["value"] == pytest.approx(float(row["ICC"]), abs=1e-9)
        lo, hi = ours[name]["ci95"]  # type: ignore[misc]
        # pingouin rounds its interval to 2 decimals; ours is not rounded.
        assert (lo, hi) == pytest.approx(tuple(float(x) for x in row["CI95"]), abs=0.005 + 1e-9)
    lo, hi = ours["ICC(2,k)"]["ci95"]  # type: ignore[misc]
    assert round(lo, 2) != lo and round(hi, 2) != hi


@pytest.mark.parametrize("judge", list("ABCD"))
def test_a_judge_missing_half_the_targets_keeps_every_target(judge: str) -> None:
    full = reliability(sf_triples())
    rel = reliability(sf_triples((judge, (1, 2, 3))))
    assert rel.design == "crossed_incomplete" and rel.model == "two-way" and rel.method == "reml"
    assert rel.n_sessions == 6 and rel.n_ratings == 21 and rel.n_sessions_excluded == 0
    # Dropping the incomplete targets gave 0.67 from 3 targets; every target counts now, and
    # the estimate stays near the complete table's 0.62.
    assert rel.icc2k is not None and full.icc2k is not None
    assert abs(rel.icc2k - full.icc2k) < 0.12 and rel.icc2k < 0.65
    assert rel.icc2k_ci95 is not None and rel.icc2k_ci95[0] < rel.icc2k < rel.icc2k_ci95[1]
    assert any("approximate" in w for w in rel.warnings)


def test_reml_equals_anova_on_a_complete_table() -> None:
    table = np.array(SF_TABLE, dtype=float)
    s, r = np.meshgrid(range(6), range(4), indexing="ij")
    reml = icc.two_way_reml(s.ravel(), r.ravel(), table.ravel(), 0.05)
    anova = icc.two_way_anova(table, 0.05)
    for name, est in anova.estimates.items():
        assert reml.estimates[name].value == pytest.approx(est.value, abs=1e-5), name


def test_one_way_with_unequal_sessions_uses_every_session() -> None:
    groups = {"S1": [2.0, 3.0, 4.0], "S2": [6.0, 7.0], "S3": [1.0, 1.0, 2.0, 2.0], "S4": [8.0, 9.0]}
    rows = [(s, f"{s}-r{i}", v) for s, vs in groups.items() for i, v in enumerate(vs)]
    rows.append(("S5", "lonely", 5.0))  # a single rating: no within-session information
    rel = reliability(rows)
    assert rel.model == "one-way" and rel.method == "anova-unbalanced" and rel.design == "varying"
    assert rel.n_sessions == 4 and rel.n_ratings == 11 and rel.n_sessions_excluded == 1
    # By hand: N = 11 ratings in n = 4 sessions of 3, 2, 4, 2: k0 = (11 - 33/11) / 3.
    ys = [v for vs in groups.values() for v in vs]
    grand = sum(ys) / 11
    msb = sum(len(v) * (np.mean(v) - grand) ** 2 for v in groups.values()) / 3
    msw = sum(((np.array(v) - np.mean(v)) ** 2).sum() for v in groups.values()) / 7
    k0 = (11 - 33 / 11) / 3
    assert rel.k == pytest.approx(k0)
    assert rel.estimates["ICC(1,1)"]["value"] == pytest.approx((msb - msw) / (msb + (k0 - 1) * msw))
    assert rel.estimates["ICC(1,k)"]["value"] == pytest.approx((msb - msw) / msb)
    assert rel.icc2k is None and rel.to_dict()["icc_k"] == rel.estimates["ICC(1,k)"]["value"]


def test_changing_rater_teams_use_the_one_way_model() -> None:
    rows = [
        (s, f"{team}{r}", float(v))
        for (s, row), team in zip(TABLE.items(), ("X", "Y", "Z", "W"), strict=True)
        for r, v in zip("ABC", row, strict=True)
    ]
    rel = reliability(rows)
    assert rel.design == "varying" and rel.model == "one-way" and rel.n_raters == 12
    doc = rel.to_dict()
    assert doc["icc"] == "ICC(1,k)" and "case 1" in doc["model_label"]
    forced = reliability(rows, model="two-way")
    assert forced.model == "two-way" and any("forced" in w for w in forced.warnings)


def test_perfect_agreement_gives_null_intervals_with_a_warning_never_nan() -> None:
    rows = [(f"S{i}", f"R{i}{j}", float(i)) for i in range(4) for j in range(3)]
    doc = reliability(rows).to_dict()
    assert doc["icc_k"] == 1.0 and doc["icc_k_ci95"] is None
    assert any("perfect agreement" in w for w in doc["warnings"])
    crossed = reliability([(f"S{i}", r, float(i)) for i in range(4) for r in "ABC"]).to_dict()
    assert crossed["icc_2_k"] == 1.0 and crossed["icc_2_k_ci95"] is None and crossed["warnings"]
    for d in (doc, crossed, reliability([("S1", "A", 5.0), ("S2", "A", 5.0)]).to_dict()):
        json.dumps(d, allow_nan=False)  # raises on NaN or infinity


def test_degenerate_data_are_flagged_not_silently_reported() -> None:
    # The raters agree on average but disagree within sessions more than sessions differ:
    # the ANOVA estimate of ICC(2,k) leaves its range.
    rows = [
        ("S1", "A", 0.0),
        ("S1", "B", 1.0),
        ("S2", "A", 1.0),
        ("S2", "B", 0.0),
        ("S3", "A", 0.5),
        ("S3", "B", 0.5),
    ]
    rel = reliability(rows)
    est = rel.estimates["ICC(2,k)"]
    assert est["value"] is not None and not est["in_range"] and est["value"] > 1  # type: ignore[operator]
    assert any("ICC(2,k)" in w and "outside its possible range" in w for w in rel.warnings)
    json.dumps(rel.to_dict(), allow_nan=False)
    assert all(e["value"] is None or math.isfinite(e["value"]) for e in rel.estimates.values())  # type: ignore[arg-type]


def test_reliability_needs_data() -> None:
    assert reliability([]).icc2k is None
    assert reliability([("S1", "A", 1.0), ("S1", "B", 1.0)]).icc2k is None
    empty = reliability([("S1", "A", 1.0)]).to_dict()
    assert empty["icc_k"] is None and empty["warnings"] and empty["n_sessions_excluded"] == 1
    with pytest.raises(ValueError):
        reliability([], model="three-way")
