"""Enrolling and finding children: the same screening as the importer (eligibility and
consent from :mod:`pedpain.clinical.eligibility`), the same subject codes; an ineligible
child goes to the screening log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from pedpain.clinical.age import format_age, parse_age
from pedpain.clinical.eligibility import (
    EXCLUSION_FACTS,
    GROUPS,
    SURGERY_TYPES,
    ConsentEvent,
    SubjectFacts,
    missing_surgery_type,
    screen_consent,
    screen_subject,
)
from pedpain.clinical.scales import PainScale, recommended_scale
from pedpain.core.errors import UsageError
from pedpain.store import Store, audit
from pedpain.store.models import Consent, ScreeningRejection, Subject
from pedpain.study.errors import Conflict, NotFound
from pedpain.study.protocol import check_subject_code, is_subject_code, parse_number

CONSENT_VERSION = "web-1"


def find_children(store: Store, query: str, limit: int = 50) -> list[dict[str, Any]]:
    q = query.strip().upper()
    with store.session() as db:
        stmt = select(Subject).order_by(Subject.code).limit(limit)
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Subject.code.like(escaped + "%", escape="\\"))
        subjects = list(db.scalars(stmt.options(selectinload(Subject.sessions))))
    return [
        {
            "code": s.code,
            "age": format_age(s.age_months),
            "group": s.group,
            "sessions": sum(x.voided_at is None for x in s.sessions),
            "synthetic": s.synthetic,
        }
        for s in subjects
    ]


@dataclass
class Enrolment:
    code: str
    enrolled: bool
    findings: list[dict[str, str]] = field(default_factory=list)


def _flag(form: dict[str, Any], name: str) -> bool:
    value = form.get(name, "")
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "on", "true", "yes")


def _opt_datetime(value: Any, what: str) -> datetime | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise UsageError(f"{what} must be a date and time like 2026-05-01T08:30") from None


def check_sex(value: Any) -> str:
    sex = str(value or "").upper()
    if sex not in ("F", "M"):
        raise UsageError("sex must be F or M")
    return sex


def check_group(value: Any) -> str:
    group = str(value or "experimental")
    if group not in GROUPS:
        raise UsageError(f"group must be one of {', '.join(GROUPS)}")
    return group


def check_surgery_type(value: Any) -> str | None:
    surgery_type = str(value or "") or None
    if surgery_type is not None and surgery_type not in SURGERY_TYPES:
        raise UsageError(f"surgery type must be one of {', '.join(SURGERY_TYPES)}")
    return surgery_type


def check_surgery_hours(value: Any) -> float | None:
    hours = parse_number(value, "surgery duration")
    if hours is not None and not 0 < hours < 48:
        raise UsageError("surgery duration must be between 0 and 48 hours")
    return hours


def check_gestation(value: Any) -> float | None:
    gestation = parse_number(value, "gestational age")
    if gestation is not None and not 20 <= gestation <= 45:
        raise UsageError("gestational age must be 20-45 weeks")
    return gestation


def enrol_child(store: Store, form: dict[str, Any]) -> Enrolment:
    """Screen and enrol one child (fields: code, age, sex, group, surgery_type,
    surgery_end, surgery_hours, gestational_age_weeks, the exclusion facts,
    guardian_consent, child_assent). An ineligible child goes to the screening log, as
    the importer does; a code enrolled twice at once is a :class:`Conflict`."""
    code = check_subject_code(form.get("code", ""))
    months = parse_age(str(form.get("age", "")))
    sex = check_sex(form.get("sex"))
    group = check_group(form.get("group"))
    surgery_type = check_surgery_type(form.get("surgery_type"))
    missing = missing_surgery_type(group, surgery_type)
    if missing:
        raise UsageError(missing.replace("surgery_type", "the surgery type"))
    end = _opt_datetime(form.get("surgery_end"), "end of surgery")
    hours = check_surgery_hours(form.get("surgery_hours"))
    start = end - timedelta(hours=hours) if end is not None and hours is not None else None
    gestation = check_gestation(form.get("gestational_age_weeks"))
    facts = SubjectFacts(
        code=code,
        group=group,
        age_months=months,
        gestational_age_weeks=gestation,
        surgery_start=start,
        surgery_end=end,
        **{k: _flag(form, k) for k in EXCLUSION_FACTS},
    )
    today = date.today()
    consent = ConsentEvent(
        "given",
        today,
        _flag(form, "guardian_consent"),
        _flag(form, "child_assent") if form.get("child_assent") not in (None, "") else None,
        CONSENT_VERSION,
    )
    findings = screen_subject(facts)
    problem = screen_consent([consent], months)
    if problem is not None:
        findings.append(problem)
    try:
        with store.session() as db, db.begin():
            if code in audit.withdrawn_codes(db, [code]):
                raise Conflict(f"{code} withdrew from the study and cannot be enrolled again")
            if db.scalar(select(Subject.id).where(Subject.code == code)) is not None:
                raise Conflict(f"{code} is already enrolled")
            moment = datetime.now().replace(microsecond=0)
            db.execute(delete(ScreeningRejection).where(ScreeningRejection.subject_code == code))
            reasons = [{"code": f.code, "message": f.message} for f in findings]
            if findings:
                db.add(
                    ScreeningRejection(
                        subject_code=code,
                        group=group,
                        age_months=months,
                        reasons=json.dumps(reasons),
                        screened_at=moment,
                    )
                )
                audit.record(
                    db,
                    store.actor,
                    "subject.screen_out",
                    subject_code=code,
                    target="web",
                    detail={"reasons": [f.code for f in findings]},
                )
                return Enrolment(code, False, reasons)
            subject = Subject(
                code=code,
                synthetic=False,
                group=group,
                sex=sex,
                age_months=months,
                gestational_age_weeks=gestation,
                surgery_type=surgery_type,
                surgery_start=start,
                surgery_end=end,
                surgery_hours=hours,
                enrolled_at=moment,
                **{k: getattr(facts, k) for k in EXCLUSION_FACTS},
            )
            subject.consents.append(
                Consent(
                    event="given",
                    on_date=today,
                    guardian_consent=consent.guardian_consent,
                    child_assent=consent.child_assent,
                    version=CONSENT_VERSION,
                )
            )
            db.add(subject)
            audit.record(db, store.actor, "subject.enrol", subject_code=code, target="web")
    except IntegrityError:
        # Two identical enrolments at once: the database's unique code decides.
        raise Conflict(f"{code} was enrolled by a simultaneous request") from None
    return Enrolment(code, True)


def get_subject(store: Store, code: str) -> Subject:
    """The child with its sessions (voided ones included, flagged) and their media."""
    from pedpain.store.models import Session

    if not is_subject_code(code):
        raise NotFound("no such child")
    with store.session() as db:
        subject = db.scalar(
            select(Subject)
            .where(Subject.code == code)
            .options(selectinload(Subject.sessions).selectinload(Session.media))
        )
    if subject is None:
        raise NotFound("no such child")
    return subject


def scale_for(subject: Subject) -> PainScale | None:
    return recommended_scale(subject.age_months)


def screening_log(store: Store, limit: int = 50) -> list[tuple[ScreeningRejection, Any]]:
    with store.session() as db:
        rows = list(
            db.scalars(
                select(ScreeningRejection)
                .order_by(ScreeningRejection.screened_at.desc())
                .limit(limit)
            )
        )
    return [(r, json.loads(r.reasons)) for r in rows]
