"""The protocol's Table 1: postoperative pain scales, the ages they fit, their thresholds.

The table ships inside the package (``clinical/data/pain_scales.csv``). A scale can be
listed for several age groups; pedpain merges those rows into one :class:`PainScale`.

pedpain's models predict one pain intensity on 0-10. A score on a scale with maximum
``M`` is normalised to 0-10 as ``score * 10 / M``; the inverse maps a 0-10 prediction
back onto the scale. ``needs_treatment`` is ``score >= threshold`` on the scale itself:
the threshold is "the score from which treatment is indicated".
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal

from pedpain.core.errors import UsageError

Reporter = Literal["observer", "self", "parent"]

# Who gives the score. Table 1 does not say; these are properties of the instruments.
_SELF_REPORT = {"VAS", "NRS", "VRS", "FPS-R"}
_PARENT_REPORT = {"PPPM"}

#: Observer scales the software maps its score onto, in order of preference: FLACC is the
#: most widely validated postoperative observer scale from 2 months to 7 years; CHIPPS
#: covers newborns under 2 months; OPS covers 8-13 years; NRS from 14 years, where no
#: observer scale of the table applies.
RECOMMENDATION_ORDER = ("FLACC", "CHIPPS", "OPS", "NRS")


@dataclass(frozen=True)
class PainScale:
    code: str
    name: str
    age_min_months: int
    age_max_months: int | None  # None: no upper bound in the table
    score_max: float | None  # None: not numeric or not communicated
    threshold: float | None  # on the scale's own units; None when not communicated
    threshold_note: str
    age_groups: tuple[str, ...] = field(default=())
    clinical_context: str = "postoperative"

    @property
    def reporter(self) -> Reporter:
        if self.code in _SELF_REPORT:
            return "self"
        if self.code in _PARENT_REPORT:
            return "parent"
        return "observer"

    @property
    def numeric(self) -> bool:
        return self.score_max is not None

    @property
    def threshold_normalised(self) -> float | None:
        if self.threshold is None or self.score_max is None:
            return None
        return self.threshold * 10.0 / self.score_max

    def fits_age(self, age_months: int) -> bool:
        if age_months < self.age_min_months:
            return False
        return self.age_max_months is None or age_months <= self.age_max_months

    def needs_treatment(self, score: float) -> bool | None:
        """True when ``score`` (on this scale) reaches the therapeutic threshold."""
        if self.threshold is None:
            return None
        self._check_score(score)
        return score >= self.threshold

    def age_range_text(self) -> str:
        low = _months_text(self.age_min_months)
        if self.age_max_months is None:
            return f"{low} and over"
        return f"{low} to {_months_text(self.age_max_months)}"

    def _check_score(self, score: float) -> None:
        if isinstance(score, bool) or not math.isfinite(score):
            raise UsageError(f"score {score!r} is not a number")
        if self.score_max is not None and not 0 <= score <= self.score_max:
            raise UsageError(f"score {score:g} is outside {self.code}'s range 0-{self.score_max:g}")
        if score < 0:
            raise UsageError(f"score {score:g} is negative")

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "reporter": self.reporter,
            "age_min_months": self.age_min_months,
            "age_max_months": self.age_max_months,
            "age_range": self.age_range_text(),
            "age_groups": list(self.age_groups),
            "max": self.score_max,
            "threshold": self.threshold,
            "threshold_normalised": self.threshold_normalised,
            "threshold_note": self.threshold_note or None,
        }


def _months_text(months: int) -> str:
    years, rest = divmod(months, 12)
    if years == 0:
        return f"{rest} months"
    return f"{years} y" if rest == 0 else f"{years} y {rest} m"


def _code_of(name: str) -> str:
    found = re.search(r"\(([^)]+)\)", name)
    if found:
        return found.group(1).strip().upper()
    return re.sub(r"\s+scale$", "", name.strip(), flags=re.IGNORECASE).upper()


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def parse_scales_csv(text: str) -> tuple[PainScale, ...]:
    """Parse Table 1 as CSV text; rows for the same scale are merged into one entry."""
    merged: dict[str, PainScale] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = _code_of(row["scale"])
        scale = PainScale(
            code=code,
            name=row["scale"].strip(),
            age_min_months=int(row["age_min_months"]),
            age_max_months=int(row["age_max_months"]) if row["age_max_months"].strip() else None,
            score_max=_number(row["score_max"]),
            threshold=_number(row["therapeutic_threshold"]),
            threshold_note=row.get("threshold_note", "").strip(),
            age_groups=(row["age_group"].strip(),),
            clinical_context=row["clinical_context"].strip(),
        )
        previous = merged.get(code)
        if previous is None:
            merged[code] = scale
            continue
        if (
            previous.age_min_months,
            previous.age_max_months,
            previous.score_max,
            previous.threshold,
        ) != (scale.age_min_months, scale.age_max_months, scale.score_max, scale.threshold):
            raise ValueError(f"Table 1 lists {code} twice with different values")
        merged[code] = PainScale(
            **{**previous.__dict__, "age_groups": previous.age_groups + scale.age_groups}
        )
    return tuple(merged.values())


@lru_cache(maxsize=1)
def load_scales() -> tuple[PainScale, ...]:
    """Table 1 as shipped in the package."""
    text = resources.files("pedpain.clinical").joinpath("data/pain_scales.csv").read_text("utf-8")
    return parse_scales_csv(text)


def scale_by_name(name: str) -> PainScale:
    """Find a scale by code (``FLACC``), case-insensitively, or by full name."""
    key = name.strip().upper()
    for scale in load_scales():
        if key in (scale.code, scale.name.upper()):
            return scale
    codes = ", ".join(s.code for s in load_scales())
    raise UsageError(f"unknown pain scale {name!r} (known: {codes})")


def scales_for_age(age_months: int) -> tuple[PainScale, ...]:
    """The scales of Table 1 that fit a child of ``age_months``."""
    if age_months < 0:
        raise UsageError("age cannot be negative")
    return tuple(s for s in load_scales() if s.fits_age(age_months))


def recommended_scale(age_months: int) -> PainScale | None:
    """The observer scale pedpain reports its 0-10 score on for this age (see module doc)."""
    fitting = {s.code: s for s in scales_for_age(age_months)}
    for code in RECOMMENDATION_ORDER:
        if code in fitting and fitting[code].numeric and fitting[code].threshold is not None:
            return fitting[code]
    return None


def normalise(score: float, scale: PainScale) -> float:
    """A score on ``scale`` to pedpain's 0-10 range."""
    if scale.score_max is None:
        raise UsageError(f"{scale.code} has no numeric maximum in Table 1; it cannot be normalised")
    scale._check_score(score)
    return score * 10.0 / scale.score_max


def denormalise(value: float, scale: PainScale) -> float:
    """A 0-10 value onto ``scale``'s own range (the inverse of :func:`normalise`)."""
    if scale.score_max is None:
        raise UsageError(f"{scale.code} has no numeric maximum in Table 1; cannot map onto it")
    if isinstance(value, bool) or not math.isfinite(value) or not 0 <= value <= 10:
        raise UsageError(f"normalised score {value!r} is outside 0-10")
    return value * scale.score_max / 10.0


#: Smallest step between two scores of a scale, where it is not a whole number: the VAS is
#: read to the millimetre on a 10 cm line, the FPS-R's faces are scored 0, 2, 4 ... 10.
#: Every other scale in Table 1 sums whole-number items.
_SCORE_STEP = {"VAS": 0.1, "FPS-R": 2.0}


def score_step(scale: PainScale) -> float:
    return _SCORE_STEP.get(scale.code, 1.0)


def check_score(value: object, scale: PainScale) -> float:
    """A score as given (form, JSON, CSV already parsed): a real number, in the scale's
    range, on its granularity. JSON ``true`` or ``"7"`` is not a score; 3.5 is not a
    FLACC score. Returns the score as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{value!r} is not a score: send a number")
    score = float(value)
    scale._check_score(score)
    step = score_step(scale)
    if abs(score / step - round(score / step)) > 1e-6:
        unit = "whole numbers" if step == 1.0 else f"steps of {step:g}"
        raise UsageError(f"{scale.code} is scored in {unit}: {score:g} is not a {scale.code} score")
    return score
