"""Reading the OAPC-FEI import layout (docs/formats/import_layout.md) into typed rows.

Each CSV row becomes a small record carrying its file and line, or a :class:`RowError`
saying what is wrong with it in words. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pedpain.clinical.eligibility import (
    EXCLUSION_FACTS,
    GROUPS,
    SUBJECT_CODE_RE,
    SUBJECT_CODE_RULE,
    SURGERY_TYPES,
    TIME_POINTS,
    missing_surgery_type,
)
from pedpain.core.errors import UsageError

FORMAT = "pedpain-oapc-import"
VERSION = 1
CODE_RE = SUBJECT_CODE_RE  # one definition, shared with the web app and the CLI
# "rater": a professional whose profession was not recorded (the web app's rater role);
# "researcher": the author of an adjudication.
RATER_ROLES = ("nurse", "physician", "anaesthetist", "psychologist", "rater", "researcher")
MEDIA_KINDS = ("photo", "video")

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


class Bad(ValueError):
    """A cell or row that cannot be read; the message is for people."""


@dataclass
class SubjectRow:
    line: int
    code: str
    sex: str
    birth_date: date | None
    age_months: int | None
    gestational_age_weeks: float | None
    group: str
    surgery_type: str | None
    surgery_start: datetime | None
    surgery_end: datetime | None
    flags: dict[str, bool]
    synthetic: bool | None


@dataclass
class ConsentRow:
    line: int
    subject_code: str
    event: str
    on: date
    guardian_consent: bool
    child_assent: bool | None
    version: str
    reason: str | None


@dataclass
class SessionRow:
    line: int
    code: str
    subject_code: str
    time_point: str
    assessed_at: datetime
    hours_since_surgery: float | None
    bps_scale: str | None
    bps_score: float | None
    latent_pain: float | None


@dataclass
class MediaRow:
    line: int
    session_code: str
    kind: str
    path: str
    sha256: str
    width: int | None
    height: int | None
    frames: int | None
    fps: float | None
    duration_s: float | None
    capture_device: str | None


@dataclass
class RatingRow:
    line: int
    session_code: str
    rater: str
    role: str
    scale: str
    raw_score: float
    blinded: bool
    # Optional columns: a researcher's adjudication beyond the set of 3, and why.
    adjudication: bool = False
    adjudication_reason: str | None = None


@dataclass
class SelfReportRow:
    line: int
    session_code: str
    scale: str
    raw_score: float


@dataclass
class ClinicalRow:
    line: int
    subject_code: str
    session_code: str | None
    drug: str
    dose_mg: float | None
    route: str | None
    given_at: datetime


@dataclass
class Cohort:
    folder: Path
    meta: dict[str, Any]
    subjects: list[SubjectRow] = field(default_factory=list)
    consents: list[ConsentRow] = field(default_factory=list)
    sessions: list[SessionRow] = field(default_factory=list)
    media: list[MediaRow] = field(default_factory=list)
    ratings: list[RatingRow] = field(default_factory=list)
    self_reports: list[SelfReportRow] = field(default_factory=list)
    clinical: list[ClinicalRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return bool(self.meta.get("synthetic"))


# -- cells ------------------------------------------------------------------------------
def _get(row: dict[str, str | None], col: str) -> str:
    value = row.get(col)
    return value.strip() if isinstance(value, str) else ""


def text(row: dict[str, str | None], col: str, *, required: bool = True) -> str | None:
    value = _get(row, col)
    if not value:
        if required:
            raise Bad(f"{col} is empty")
        return None
    return value


def choice(row: dict[str, str | None], col: str, allowed: tuple[str, ...], **kw: Any) -> str | None:
    value = text(row, col, **kw)
    if value is None:
        return None
    if value not in allowed:
        raise Bad(f"{col} {value!r} is not one of {', '.join(allowed)}")
    return value


def boolean(row: dict[str, str | None], col: str, *, required: bool = False) -> bool | None:
    value = _get(row, col)
    if value == "":
        if required:
            raise Bad(f"{col} is empty (write 0 or 1)")
        return None
    if value not in ("0", "1"):
        raise Bad(f"{col} {value!r} is not 0 or 1")
    return value == "1"


def number(row: dict[str, str | None], col: str, *, required: bool = False) -> float | None:
    value = _get(row, col)
    if value == "":
        if required:
            raise Bad(f"{col} is empty")
        return None
    try:
        out = float(value)
    except ValueError:
        raise Bad(f"{col} {value!r} is not a number (use . as the decimal mark)") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise Bad(f"{col} {value!r} is not a finite number")
    return out


def integer(row: dict[str, str | None], col: str, *, required: bool = False) -> int | None:
    value = number(row, col, required=required)
    if value is None:
        return None
    if value != int(value):
        raise Bad(f"{col} {value:g} is not a whole number")
    return int(value)


def day(row: dict[str, str | None], col: str, *, required: bool = False) -> date | None:
    value = _get(row, col)
    if value == "":
        if required:
            raise Bad(f"{col} is empty")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Bad(f"{col} {value!r} is not an ISO date like 2026-03-14") from None


def moment(row: dict[str, str | None], col: str, *, required: bool = False) -> datetime | None:
    value = _get(row, col)
    if value == "":
        if required:
            raise Bad(f"{col} is empty")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Bad(f"{col} {value!r} is not an ISO date-time like 2026-03-14T09:30:00") from None
    if parsed.tzinfo is not None:
        raise Bad(f"{col} {value!r} has a time zone: write local hospital time without one")
    return parsed


def code(row: dict[str, str | None], col: str) -> str:
    value = text(row, col)
    assert value is not None
    if not CODE_RE.match(value):
        raise Bad(f"{col} {value!r} is not {SUBJECT_CODE_RULE}")
    return value


# -- tables -----------------------------------------------------------------------------
def _rows(folder: Path, name: str, columns: tuple[str, ...], required: bool) -> Iterator[Any]:
    path = folder / name
    if not path.is_file():
        if required:
            raise UsageError(f"{folder} has no {name}: not a complete OAPC-FEI import folder")
        return
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            raise UsageError(f"{name} lacks column(s) {', '.join(missing)} (line 1 of {path})")
        reader.fieldnames = header
        try:
            for row in reader:
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{name} is not readable CSV near line {reader.line_num}: {exc}"
            ) from None


def _table(
    cohort: Cohort,
    name: str,
    columns: tuple[str, ...],
    parse: Callable[[int, dict[str, str | None]], T],
    *,
    required: bool,
) -> list[T]:
    out: list[T] = []
    for line, row in _rows(cohort.folder, name, columns, required):
        if None in row:  # DictReader puts surplus cells under the key None
            cohort.errors.append(RowError(name, line, "more cells than columns in the header"))
            continue
        try:
            out.append(parse(line, row))
        except Bad as exc:
            cohort.errors.append(RowError(name, line, str(exc)))
    return out


def _subject(line: int, r: dict[str, str | None]) -> SubjectRow:
    group = choice(r, "group", GROUPS)
    assert group is not None
    row = SubjectRow(
        line=line,
        code=code(r, "subject_code"),
        sex=choice(r, "sex", ("F", "M")) or "",
        birth_date=day(r, "birth_date"),
        age_months=integer(r, "age_months"),
        gestational_age_weeks=number(r, "gestational_age_weeks"),
        group=group,
        surgery_type=choice(r, "surgery_type", SURGERY_TYPES, required=False),
        surgery_start=moment(r, "surgery_start"),
        surgery_end=moment(r, "surgery_end"),
        flags={name: bool(boolean(r, name)) for name in EXCLUSION_FACTS},
        synthetic=boolean(r, "synthetic"),
    )
    if row.age_months is None and row.birth_date is None:
        raise Bad("give age_months or birth_date")
    if row.age_months is not None and row.age_months < 0:
        raise Bad("age_months is negative")
    missing = missing_surgery_type(group, row.surgery_type)
    if missing:
        raise Bad(missing)
    return row


def _consent(line: int, r: dict[str, str | None]) -> ConsentRow:
    event = choice(r, "event", ("given", "withdrawn"))
    on = day(r, "date", required=True)
    assert event is not None and on is not None
    return ConsentRow(
        line=line,
        subject_code=code(r, "subject_code"),
        event=event,
        on=on,
        guardian_consent=bool(boolean(r, "guardian_consent")),
        child_assent=boolean(r, "child_assent"),
        version=text(r, "consent_version", required=event == "given") or "",
        reason=text(r, "reason", required=False),
    )


def _session(line: int, r: dict[str, str | None]) -> SessionRow:
    scale, score = text(r, "bps_scale", required=False), number(r, "bps_score")
    if (scale is None) != (score is None):
        raise Bad("bps_scale and bps_score go together: give both or neither")
    time_point = choice(r, "time_point", TIME_POINTS)
    assessed = moment(r, "assessed_at", required=True)
    assert time_point is not None and assessed is not None
    return SessionRow(
        line=line,
        code=text(r, "session_id") or "",
        subject_code=code(r, "subject_code"),
        time_point=time_point,
        assessed_at=assessed,
        hours_since_surgery=number(r, "hours_since_surgery"),
        bps_scale=scale,
        bps_score=score,
        latent_pain=number(r, "latent_pain"),
    )


def _media(line: int, r: dict[str, str | None]) -> MediaRow:
    sha = (text(r, "sha256") or "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise Bad("sha256 is not a 64-digit hex digest")
    path = text(r, "path") or ""
    if path.startswith("/") or "\\" in path or ".." in path.split("/"):
        raise Bad(f"path {path!r} must be relative to the folder, /-separated, without ..")
    kind = choice(r, "kind", MEDIA_KINDS)
    assert kind is not None
    return MediaRow(
        line=line,
        session_code=text(r, "session_id") or "",
        kind=kind,
        path=path,
        sha256=sha,
        width=integer(r, "width"),
        height=integer(r, "height"),
        frames=integer(r, "frames"),
        fps=number(r, "fps"),
        duration_s=number(r, "duration_s"),
        capture_device=text(r, "capture_device", required=False),
    )


def _rating(line: int, r: dict[str, str | None]) -> RatingRow:
    raw = number(r, "raw_score", required=True)
    assert raw is not None
    return RatingRow(
        line=line,
        session_code=text(r, "session_id") or "",
        rater=text(r, "rater_id") or "",
        role=choice(r, "rater_role", RATER_ROLES) or "",
        scale=(text(r, "scale") or "").upper(),
        raw_score=raw,
        blinded=bool(boolean(r, "blinded")),
        adjudication=bool(boolean(r, "adjudication")) if "adjudication" in r else False,
        adjudication_reason=text(r, "adjudication_reason", required=False)
        if "adjudication_reason" in r
        else None,
    )


def _self_report(line: int, r: dict[str, str | None]) -> SelfReportRow:
    raw = number(r, "raw_score", required=True)
    assert raw is not None
    return SelfReportRow(
        line=line,
        session_code=text(r, "session_id") or "",
        scale=(text(r, "scale") or "").upper(),
        raw_score=raw,
    )


def _clinical(line: int, r: dict[str, str | None]) -> ClinicalRow:
    given = moment(r, "given_at", required=True)
    assert given is not None
    dose = number(r, "dose_mg")
    if dose is not None and dose < 0:
        raise Bad("dose_mg is negative")
    return ClinicalRow(
        line=line,
        subject_code=code(r, "subject_code"),
        session_code=text(r, "session_id", required=False),
        drug=text(r, "drug") or "",
        dose_mg=dose,
        route=text(r, "route", required=False),
        given_at=given,
    )


SUBJECT_COLUMNS = (
    "subject_code",
    "sex",
    "birth_date",
    "age_months",
    "gestational_age_weeks",
    "group",
    "surgery_type",
    "surgery_start",
    "surgery_end",
    *EXCLUSION_FACTS,
)


def read_cohort(folder: Path) -> Cohort:
    """Read every table of an import folder; bad rows become ``cohort.errors``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"import folder not found: {folder}")
    meta_path = folder / "cohort.json"
    if not meta_path.is_file():
        raise UsageError(f"{folder} is not an OAPC-FEI import folder (no cohort.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"cohort.json is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UsageError(f"cohort.json does not say format {FORMAT!r}: not an import folder")
    if meta.get("version") != VERSION:
        raise UsageError(
            f"import layout version {meta.get('version')!r} is not supported (this pedpain "
            f"reads version {VERSION})"
        )
    cohort = Cohort(folder=folder.resolve(), meta=meta)
    cohort.subjects = _table(cohort, "subjects.csv", SUBJECT_COLUMNS, _subject, required=True)
    cohort.consents = _table(
        cohort,
        "consents.csv",
        ("subject_code", "event", "date", "guardian_consent", "child_assent", "consent_version"),
        _consent,
        required=True,
    )
    cohort.sessions = _table(
        cohort,
        "sessions.csv",
        ("session_id", "subject_code", "time_point", "assessed_at", "hours_since_surgery"),
        _session,
        required=True,
    )
    cohort.media = _table(
        cohort, "media.csv", ("session_id", "kind", "path", "sha256"), _media, required=False
    )
    cohort.ratings = _table(
        cohort,
        "ratings.csv",
        ("session_id", "rater_id", "rater_role", "scale", "raw_score", "blinded"),
        _rating,
        required=False,
    )
    cohort.self_reports = _table(
        cohort,
        "self_reports.csv",
        ("session_id", "scale", "raw_score"),
        _self_report,
        required=False,
    )
    cohort.clinical = _table(
        cohort,
        "clinical.csv",
        ("subject_code", "session_id", "drug", "dose_mg", "route", "given_at"),
        _clinical,
        required=False,
    )
    return cohort
