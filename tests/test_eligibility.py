"""The protocol's inclusion/exclusion rules and the other rules enforced on entry."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from pedpain.clinical import eligibility as rules
from pedpain.clinical.scales import scale_by_name

START = datetime(2026, 3, 2, 8, 0)


def facts(**over: object) -> rules.SubjectFacts:
    base: dict[str, object] = {
        "code": "S-001",
        "group": "experimental",
        "age_months": 60,
        "gestational_age_weeks": 39.0,
        "surgery_start": START,
        "surgery_end": START + timedelta(hours=3),
    }
    base.update(over)
    return rules.SubjectFacts(**base)  # type: ignore[arg-type]


def codes(f: rules.SubjectFacts) -> list[str]:
    return [x.code for x in rules.screen_subject(f)]


def test_an_eligible_child_has_no_findings() -> None:
    assert rules.screen_subject(facts()) == []


@pytest.mark.parametrize(("age", "eligible"), [(0, True), (167, True), (168, False), (200, False)])
def test_children_are_included_under_14(age: int, eligible: bool) -> None:
    assert (codes(facts(age_months=age)) == []) is eligible
    if not eligible:
        message = rules.screen_subject(facts(age_months=age))[0].message
        assert "under 14" in message


def test_surgery_must_last_over_two_hours() -> None:
    two = facts(surgery_end=START + timedelta(hours=2))
    assert codes(two) == ["surgery_2h_or_less"]
    assert "over 2 h" in rules.screen_subject(two)[0].message
    assert codes(facts(surgery_end=START + timedelta(hours=2, minutes=1))) == []
    assert codes(facts(surgery_end=None)) == ["surgery_unknown"]
    assert codes(facts(surgery_end=START - timedelta(hours=1))) == ["surgery_times_invalid"]


def test_controls_need_no_surgery() -> None:
    assert codes(facts(group="control", surgery_start=None, surgery_end=None)) == []


@pytest.mark.parametrize("fact", sorted(rules.EXCLUSION_FACTS))
def test_each_exclusion_fact_excludes(fact: str) -> None:
    found = rules.screen_subject(facts(**{fact: True}))
    assert [f.code for f in found] == [rules.EXCLUSION_FACTS[fact][0]]
    assert "exclusion" in found[0].message


def test_premature_birth_excludes_and_all_reasons_are_kept() -> None:
    assert codes(facts(gestational_age_weeks=36.9)) == ["premature_birth"]
    assert codes(facts(gestational_age_weeks=37)) == []
    many = facts(age_months=170, gestational_age_weeks=30, icu_after_surgery=True)
    assert codes(many) == ["age_14_or_over", "premature_birth", "icu_after_surgery"]


@pytest.mark.parametrize(
    ("hours", "ok"), [(5.9, False), (6.0, True), (24, True), (48.0, True), (48.5, False)]
)
def test_assessment_window_is_6_to_48_hours(hours: float, ok: bool) -> None:
    finding = rules.check_assessment_time(hours, "experimental")
    assert (finding is None) is ok
    if not ok:
        assert finding is not None and "6-48 h" in finding.message
    assert rules.check_assessment_time(hours, "control") is None


def test_scale_must_fit_age() -> None:
    flacc = scale_by_name("FLACC")
    assert rules.check_scale_fits_age(flacc, 30) is None
    finding = rules.check_scale_fits_age(flacc, 120)
    assert finding is not None
    assert "FLACC" in finding.message and "10y" in finding.message and "OPS" in finding.message


def test_photos_under_20_megapixels_get_a_warning() -> None:
    assert rules.check_photo_resolution(5472, 3648) is None  # a "20 MP" camera: 19.96 MP
    assert rules.check_photo_resolution(5184, 3456) is not None  # 17.9 MP
    low = rules.check_photo_resolution(4000, 3000)
    assert low is not None and low.code == "photo_below_20mp" and "12.00 MP" in low.message


def test_consent_rules() -> None:
    given = rules.ConsentEvent("given", date(2026, 3, 1), True, None, "v1")
    on = date(2026, 3, 3)
    assert rules.check_consent([given], 30, on) is None
    assert rules.check_consent([], 30, on).code == "no_consent"  # type: ignore[union-attr]
    late = rules.ConsentEvent("given", date(2026, 3, 5), True, None, "v1")
    assert rules.check_consent([late], 30, on).code == "no_consent"  # type: ignore[union-attr]
    unsigned = rules.ConsentEvent("given", date(2026, 3, 1), False, None, "v1")
    assert rules.check_consent([unsigned], 30, on).code == "no_guardian_consent"  # type: ignore[union-attr]
    # From 7 years the child's own assent is needed.
    assert rules.check_consent([given], 90, on).code == "no_child_assent"  # type: ignore[union-attr]
    assent = rules.ConsentEvent("given", date(2026, 3, 1), True, True, "v1")
    assert rules.check_consent([assent], 90, on) is None
    withdrawn = rules.ConsentEvent("withdrawn", date(2026, 3, 2), False, None, "")
    assert rules.check_consent([assent, withdrawn], 90, on).code == "consent_withdrawn"  # type: ignore[union-attr]


def test_age_helpers() -> None:
    assert rules.age_in_months(date(2020, 5, 15), date(2026, 5, 14)) == 71
    assert rules.age_in_months(date(2020, 5, 15), date(2026, 5, 15)) == 72
    assert [rules.age_band(m) for m in (3, 20, 50, 100, 150)] == [
        "0-11m",
        "1-2y",
        "3-5y",
        "6-9y",
        "10-13y",
    ]
