"""The protocol's definitions in one place: subject codes, time points, hours since
surgery, scales per age, scores (range and granularity), the validation phase.

The definitions themselves live in :mod:`pedpain.clinical` (the importer, one layer
below, reads them too); this module turns raw input from a form, a JSON body or a command
line into checked values, with one message per rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pedpain.clinical.eligibility import (
    ASSESSMENT_WINDOW_HOURS,
    PLAUSIBLE_HOURS_SINCE_SURGERY,
    SUBJECT_CODE_RE,
    SUBJECT_CODE_RULE,
    TIME_POINTS,
    check_assessment_time,
)
from pedpain.clinical.scales import PainScale, check_score, recommended_scale, scale_by_name
from pedpain.core.errors import UsageError

__all__ = [
    "ASSESSMENT_WINDOW_HOURS",
    "SUBJECT_CODE_RE",
    "TIME_POINTS",
    "StudyRules",
    "check_hours",
    "check_subject_code",
    "check_time_point",
    "observer_scale",
    "protocol_deviation",
    "score_from",
]


@dataclass(frozen=True)
class StudyRules:
    """Study-wide settings the rules depend on (from ``pedpain.core.settings``).

    ``validation_phase``: while the AI is being validated against the nurses' BPS, the
    nurse enters the BPS before the AI score of that session is shown (on by default).
    """

    validation_phase: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> StudyRules:
        return cls(validation_phase=bool(getattr(settings, "study_validation_phase", True)))


def check_subject_code(value: Any) -> str:
    code = str(value or "").strip()
    if not SUBJECT_CODE_RE.match(code):
        raise UsageError(f"{code!r} is not {SUBJECT_CODE_RULE}")
    return code


def is_subject_code(value: Any) -> bool:
    return isinstance(value, str) and SUBJECT_CODE_RE.match(value) is not None


def check_time_point(value: Any) -> str:
    tp = str(value or "").strip()
    if tp not in TIME_POINTS:
        raise UsageError(f"time point must be one of {', '.join(TIME_POINTS)}")
    return tp


def parse_number(value: Any, what: str) -> float | None:
    """A number from a form field, a JSON value or a command-line string; blank = None.
    JSON ``true`` is not a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a number, not {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"{what} must be a number") from None
    if not math.isfinite(number):
        raise UsageError(f"{what} must be a finite number")
    return number


def check_hours(value: Any) -> float | None:
    """Hours since the end of surgery: None when not given; refused when not plausible
    (negative, infinite, more than 60 days). Outside 6-48 h is allowed but a protocol
    deviation (:func:`protocol_deviation`)."""
    hours = parse_number(value, "hours since surgery")
    if hours is None:
        return None
    low, high = PLAUSIBLE_HOURS_SINCE_SURGERY
    if not low <= hours <= high:
        raise UsageError(
            f"hours since surgery {hours:g} is not plausible: expected {low:g}-{high:g} h"
        )
    return round(hours, 2)


def protocol_deviation(hours: float | None, group: str) -> str | None:
    """Why a session falls outside the protocol's assessment window (experimental group,
    6-48 h after surgery), or None. Deviations are kept, shown on the dashboard and left
    out of exports unless asked for."""
    finding = check_assessment_time(hours, group)
    return finding.message if finding is not None else None


def observer_scale(age_months: int, name: str | None = None) -> PainScale:
    """The scale a professional scores this child on: the named one, else the
    recommended one for the age (Table 1)."""
    scale = scale_by_name(name) if name else recommended_scale(age_months)
    if scale is None:
        raise UsageError("no observer scale fits this child's age: choose one")
    if scale.reporter == "self":
        raise UsageError(f"{scale.code} is a self-report scale, not an observer's")
    if not scale.fits_age(age_months):
        raise UsageError(f"{scale.code} does not fit a child of this age")
    return scale


def score_from(value: Any, scale: PainScale, *, text: bool = False) -> float:
    """A score on ``scale``. ``text=True`` for form fields and command lines (a string is
    parsed); from JSON only a number is a score (``true`` and ``"7"`` are refused)."""
    if text and isinstance(value, str):
        number = parse_number(value, "the score")
        if number is None:
            raise UsageError("the score is missing")
        value = number
    return check_score(value, scale)
