"""The protocol's inclusion and exclusion criteria, and the other rules enforced on entry.

Each rule returns :class:`Finding` objects with a stable ``code`` (counted in statistics)
and a one-line ``message`` a research nurse understands. Nothing here touches a database:
the store calls these functions before it writes anything.

Inclusion (experimental group): age under 14 years, surgery lasting more than 2 hours,
assessments between 6 and 48 hours after the end of surgery. Exclusions: premature birth
(gestational age under 37 weeks), neurological, muscular or psychiatric disease,
intraoperative cardiac arrest, admission to intensive care after surgery, non-cooperation.
The control group (healthy children, no surgery) meets the same age and exclusion rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from pedpain.clinical.age import format_age
from pedpain.clinical.scales import PainScale, scales_for_age

#: Children are included up to (not including) their 14th birthday.
MAX_AGE_MONTHS_EXCLUSIVE = 14 * 12
#: Surgery must have lasted more than this many hours.
MIN_SURGERY_HOURS = 2.0
#: Assessments happen in this window after the end of surgery (hours, inclusive).
ASSESSMENT_WINDOW_HOURS = (6.0, 48.0)
#: Born before this gestational age (weeks) = premature.
TERM_GESTATION_WEEKS = 37.0
#: From this age a child's own assent is sought besides the guardian's consent.
ASSENT_AGE_MONTHS = 7 * 12
#: Photos below this resolution are accepted with a warning (the protocol asks for 20 MP).
PHOTO_MIN_MEGAPIXELS = 20.0
#: Cameras sold as "20 MP" deliver 19.9-20.1 MP (5472 x 3648 = 19.96 MP): allow 0.5 %.
_NOMINAL_TOLERANCE = 0.995

#: A child's pseudonymous code, the one definition for the import layout, the web app, the
#: API and the CLI: 3-32 upper-case letters, digits and hyphens (never a name).
SUBJECT_CODE_RE = re.compile(r"^[A-Z0-9-]{3,32}$")
SUBJECT_CODE_RULE = "a pseudonymous code of 3-32 of A-Z, 0-9 and - (never the child's name)"
#: Hours since surgery outside this range are not a deviation but a typing error (a
#: negative time, or more than 60 days later): refused, never stored.
PLAUSIBLE_HOURS_SINCE_SURGERY = (0.0, 60 * 24.0)

GROUPS = ("control", "experimental")
SURGERY_TYPES = ("abdominal", "orthopaedic", "other")
TIME_POINTS = ("pain", "relieved", "unrelieved", "no_pain")

#: Exclusion facts of the import layout -> (finding code, wording).
EXCLUSION_FACTS: dict[str, tuple[str, str]] = {
    "neurological_disease": ("neurological_disease", "has a neurological disease"),
    "muscular_disease": ("muscular_disease", "has a muscular disease"),
    "psychiatric_disease": ("psychiatric_disease", "has a psychiatric disease"),
    "intraop_cardiac_arrest": ("intraop_cardiac_arrest", "had an intraoperative cardiac arrest"),
    "icu_after_surgery": ("icu_after_surgery", "was admitted to intensive care after surgery"),
    "non_cooperative": ("non_cooperative", "did not cooperate"),
}


@dataclass(frozen=True)
class Finding:
    """One rule's verdict: ``code`` is stable (for counting), ``message`` is for people."""

    code: str
    message: str


@dataclass(frozen=True)
class SubjectFacts:
    """What screening needs to know about a child (no identity)."""

    code: str
    group: str
    age_months: int
    gestational_age_weeks: float | None = None
    surgery_start: datetime | None = None
    surgery_end: datetime | None = None
    neurological_disease: bool = False
    muscular_disease: bool = False
    psychiatric_disease: bool = False
    intraop_cardiac_arrest: bool = False
    icu_after_surgery: bool = False
    non_cooperative: bool = False

    @property
    def surgery_hours(self) -> float | None:
        if self.surgery_start is None or self.surgery_end is None:
            return None
        return (self.surgery_end - self.surgery_start).total_seconds() / 3600.0


def screen_subject(facts: SubjectFacts) -> list[Finding]:
    """Every reason this child cannot be enrolled; an empty list means eligible."""
    out: list[Finding] = []
    if facts.age_months >= MAX_AGE_MONTHS_EXCLUSIVE:
        out.append(
            Finding(
                "age_14_or_over",
                f"aged {format_age(facts.age_months)}: the study includes children under 14",
            )
        )
    if facts.gestational_age_weeks is not None and (
        facts.gestational_age_weeks < TERM_GESTATION_WEEKS
    ):
        out.append(
            Finding(
                "premature_birth",
                f"born at {facts.gestational_age_weeks:g} weeks (premature: under "
                f"{TERM_GESTATION_WEEKS:g} weeks is an exclusion)",
            )
        )
    for attr, (code, wording) in EXCLUSION_FACTS.items():
        if getattr(facts, attr):
            out.append(Finding(code, f"{wording} (an exclusion criterion)"))
    if facts.group == "experimental":
        hours = facts.surgery_hours
        if hours is None:
            out.append(Finding("surgery_unknown", "surgery start and end are not recorded"))
        elif hours <= 0:
            out.append(Finding("surgery_times_invalid", "surgery ends before it starts"))
        elif hours <= MIN_SURGERY_HOURS:
            out.append(
                Finding(
                    "surgery_2h_or_less",
                    f"surgery lasted {hours:.2f} h: the study includes surgery over "
                    f"{MIN_SURGERY_HOURS:g} h",
                )
            )
    return out


def missing_surgery_type(group: str, surgery_type: str | None) -> str | None:
    """The experimental group is defined by its surgery: its type must be recorded (the
    import layout and the enrolment form apply the same rule)."""
    if group == "experimental" and not surgery_type:
        return "surgery_type is empty for a child of the experimental group"
    return None


def check_assessment_time(hours_since_surgery: float | None, group: str) -> Finding | None:
    """A session of the experimental group must fall 6-48 h after the end of surgery."""
    if group != "experimental":
        return None
    low, high = ASSESSMENT_WINDOW_HOURS
    if hours_since_surgery is None:
        return Finding("assessment_time_unknown", "hours since the end of surgery are missing")
    if not low <= hours_since_surgery <= high:
        return Finding(
            "assessment_outside_window",
            f"assessed {hours_since_surgery:g} h after surgery: the protocol assesses "
            f"{low:g}-{high:g} h after the end of surgery",
        )
    return None


def check_scale_fits_age(scale: PainScale, age_months: int) -> Finding | None:
    """A professional's (or child's) score must be on a scale that fits the child's age."""
    if scale.fits_age(age_months):
        return None
    fitting = ", ".join(s.code for s in scales_for_age(age_months)) or "none"
    return Finding(
        "scale_does_not_fit_age",
        f"{scale.code} covers {scale.age_range_text()}, not a child of "
        f"{format_age(age_months)} (scales that fit: {fitting})",
    )


def check_photo_resolution(width: int | None, height: int | None) -> Finding | None:
    """Photos under 20 megapixels are kept, with this warning recorded."""
    if not width or not height:
        return Finding("photo_resolution_unknown", "photo resolution is not recorded")
    megapixels = width * height / 1e6
    if megapixels < PHOTO_MIN_MEGAPIXELS * _NOMINAL_TOLERANCE:
        return Finding(
            "photo_below_20mp",
            f"photo is {width}x{height} ({megapixels:.2f} MP), below the protocol's "
            f"{PHOTO_MIN_MEGAPIXELS:g} MP",
        )
    return None


@dataclass(frozen=True)
class ConsentEvent:
    event: str  # "given" or "withdrawn"
    on: date
    guardian_consent: bool
    child_assent: bool | None
    version: str


def check_consent(events: list[ConsentEvent], age_months: int, on: date) -> Finding | None:
    """A session needs valid consent on file on its date, and no withdrawal before it.

    Valid consent: a guardian signed, and from 7 years the child assented too.
    """
    dated = sorted((e for e in events if e.on <= on), key=lambda e: e.on)
    if any(e.event == "withdrawn" for e in dated):
        return Finding("consent_withdrawn", f"consent was withdrawn before {on.isoformat()}")
    given = [e for e in dated if e.event == "given"]
    if not given:
        return Finding(
            "no_consent", f"no consent on file on or before {on.isoformat()} (session refused)"
        )
    latest = given[-1]
    if not latest.guardian_consent:
        return Finding("no_guardian_consent", "the consent on file has no guardian signature")
    if age_months >= ASSENT_AGE_MONTHS and latest.child_assent is not True:
        return Finding(
            "no_child_assent",
            f"a child of {format_age(age_months)} must assent too (from 7 years); "
            "no assent on file",
        )
    return None


def screen_consent(events: list[ConsentEvent], age_months: int) -> Finding | None:
    """Subject-level consent screening: a guardian signed, and from 7 years the child
    assented. A child without it is not enrolled (screening log), whatever the dates."""
    given = sorted((e for e in events if e.event == "given"), key=lambda e: e.on)
    if not given:
        return Finding("no_consent", "no consent on file (not enrolled)")
    latest = given[-1]
    if not latest.guardian_consent:
        return Finding("no_guardian_consent", "the consent on file has no guardian signature")
    if age_months >= ASSENT_AGE_MONTHS and latest.child_assent is not True:
        return Finding(
            "no_child_assent",
            f"a child of {format_age(age_months)} must assent too (from 7 years); "
            "the child did not assent",
        )
    return None


def age_in_months(birth: date, on: date) -> int:
    """Completed months between a birth date and a later date."""
    months = (on.year - birth.year) * 12 + (on.month - birth.month)
    if on.day < birth.day:
        months -= 1
    return max(months, 0)


def age_band(age_months: int) -> str:
    """Coarse age bands used to stratify splits and subgroup reports."""
    if age_months < 12:
        return "0-11m"
    if age_months < 36:
        return "1-2y"
    if age_months < 72:
        return "3-5y"
    if age_months < 120:
        return "6-9y"
    return "10-13y"
