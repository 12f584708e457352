from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pedpain.clinical.scales import (
    denormalise,
    load_scales,
    normalise,
    recommended_scale,
    scale_by_name,
    scales_for_age,
)
from pedpain.core.errors import UsageError

TABLE = Path(__file__).resolve().parents[1] / "src/pedpain/clinical/data/pain_scales.csv"
SHARED_TABLE = Path(__file__).resolve().parents[2] / "shared/data/pain_scales.csv"


def _rows():
    with TABLE.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_packaged_table_matches_the_protocol_copy():
    if not SHARED_TABLE.exists():
        pytest.skip("shared/ not beside this checkout")
    assert TABLE.read_text(encoding="utf-8") == SHARED_TABLE.read_text(encoding="utf-8")


def test_duplicate_rows_are_merged_into_one_scale():
    codes = [s.code for s in load_scales()]
    assert len(codes) == len(set(codes)) == 14
    chipps = scale_by_name("chipps")
    assert chipps.age_groups == ("preterm and term newborns", "infants to children under 6 years")


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["scale"][:30])
def test_every_row_of_table_1_is_reachable(row):
    scale = scale_by_name(row["scale"])
    assert scale.age_min_months == int(row["age_min_months"])
    for months in (
        int(row["age_min_months"]),
        int(row["age_max_months"]) if row["age_max_months"] else 216,
    ):
        assert scale in scales_for_age(months)
    expected_max = float(row["score_max"]) if row["score_max"] else None
    expected_thr = float(row["therapeutic_threshold"]) if row["therapeutic_threshold"] else None
    assert scale.score_max == expected_max
    assert scale.threshold == expected_thr


def test_age_bounds_are_inclusive_and_exclusive_outside():
    flacc = scale_by_name("FLACC")
    assert not flacc.fits_age(1) and flacc.fits_age(2) and flacc.fits_age(95)
    assert not flacc.fits_age(96)


def test_four_year_old_gets_flacc_3_of_10(cli):
    result = cli("scales", "--age", "4y", "--json")
    assert result.code == 0
    doc = json.loads(result.out)
    assert doc["age_months"] == 48
    assert doc["recommended"] == "FLACC"
    flacc = next(s for s in doc["scales"] if s["code"] == "FLACC")
    assert (flacc["threshold"], flacc["max"]) == (3.0, 10.0)
    assert "not a medical device" in doc["disclaimer"]


@pytest.mark.parametrize("age", ["6y", "7y", "10y", "13y11m"])
def test_chipps_is_not_offered_above_five_years(cli, age):
    doc = json.loads(cli("scales", "--age", age, "--json").out)
    assert "CHIPPS" not in [s["code"] for s in doc["scales"]]


@pytest.mark.parametrize(
    "months, code",
    [
        (0, "CHIPPS"),
        (1, "CHIPPS"),
        (2, "FLACC"),
        (48, "FLACC"),
        (95, "FLACC"),
        (96, "OPS"),
        (167, "OPS"),
        (168, "NRS"),
        (216, "NRS"),
    ],
)
def test_recommended_scale_by_age(months, code):
    best = recommended_scale(months)
    assert best is not None and best.code == code
    assert best.fits_age(months)


def test_every_age_has_a_recommendation():
    assert all(recommended_scale(m) is not None for m in range(0, 217))


def test_scales_without_numeric_maximum():
    vrs = scale_by_name("VRS")
    assert vrs.score_max is None and "moderate" in vrs.threshold_note
    with pytest.raises(UsageError, match="no numeric maximum"):
        normalise(1, vrs)
    tppps = scale_by_name("TPPPS")
    assert tppps.needs_treatment(3) is None


def test_normalise_exact_values():
    assert normalise(4, scale_by_name("EVENDOL")) == pytest.approx(40 / 15)
    assert normalise(3, scale_by_name("FLACC")) == 3
    assert denormalise(5, scale_by_name("Amiel-Tison")) == 10
    assert scale_by_name("CFCS").threshold_normalised == 2.5


@pytest.mark.parametrize("bad", [-1, 11, float("nan"), float("inf")])
def test_out_of_range_scores_are_refused(bad):
    with pytest.raises(UsageError):
        normalise(bad, scale_by_name("FLACC"))
    with pytest.raises(UsageError):
        denormalise(bad, scale_by_name("FLACC"))


NUMERIC = [s for s in load_scales() if s.score_max is not None]


@given(st.sampled_from(NUMERIC), st.floats(min_value=0, max_value=1))
def test_normalisation_round_trips(scale, fraction):
    score = fraction * scale.score_max
    back = denormalise(normalise(score, scale), scale)
    assert back == pytest.approx(score, abs=1e-9)
    assert 0 <= normalise(score, scale) <= 10


@given(
    st.sampled_from([s for s in NUMERIC if s.threshold is not None]),
    st.floats(min_value=0, max_value=1),
)
def test_threshold_decision_is_the_same_on_both_scales(scale, fraction):
    score = fraction * scale.score_max
    on_scale = scale.needs_treatment(score)
    on_ten = normalise(score, scale) >= scale.threshold_normalised - 1e-12
    assert on_scale == on_ten


def test_cli_conversion(cli):
    doc = json.loads(cli("scales", "--scale", "FLACC", "--score", "5", "--json").out)
    assert doc["conversion"] == {
        "scale": "FLACC",
        "score": 5.0,
        "normalised": 5.0,
        "needs_treatment": True,
    }
    doc = json.loads(cli("scales", "--scale", "EVENDOL", "--normalised", "1.5", "--json").out)
    assert doc["conversion"]["score"] == pytest.approx(2.25)
    assert doc["conversion"]["needs_treatment"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (("--score", "3"), "need --scale"),
        (("--scale", "FLACC", "--score", "11"), "outside FLACC's range"),
        (("--scale", "NOPE"), "unknown pain scale"),
        (("--scale", "CHIPPS", "--age", "7y"), "does not fit"),
        (("--scale", "FLACC", "--score", "1", "--normalised", "1"), "not both"),
    ],
)
def test_cli_conversion_errors(cli, args, message):
    result = cli("scales", *args)
    assert result.code == 2
    assert message in result.err


def test_text_table_shows_recommendation(cli):
    result = cli("scales", "--age", "10y")
    assert result.code == 0
    assert "OPS *" in result.out
    assert "not a medical device" in result.out
