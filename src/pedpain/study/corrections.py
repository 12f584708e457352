"""Corrections of recorded study data with an audit trail: the old value, the new one,
who, when and why, in the ``correction`` table (and an audit-log entry). What can be
corrected: a child's enrolment fields (a wrong age means a wrong scale), a session filed
under the wrong child (moved), a session that should not count (voided: kept, excluded
everywhere, with its reason), a rater's own score before the set is complete
(:func:`pedpain.study.ratings.amend_rating`). Exports read the corrected rows and list
the voided sessions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pedpain.clinical.age import parse_age
from pedpain.clinical.eligibility import EXCLUSION_FACTS
from pedpain.core.errors import UsageError
from pedpain.store import Store, audit
from pedpain.store.models import Correction, Session, Subject
from pedpain.study.errors import Conflict, NotFound
from pedpain.study.protocol import check_subject_code


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise UsageError("a correction needs a reason")
    return reason.strip()[:2000]


def record_correction(
    db: Any,
    actor: str,
    subject: Subject,
    entity: str,
    key: str,
    field: str,
    old: Any,
    new: Any,
    reason: str,
) -> None:
    """One correction row and its audit entry, in the caller's transaction."""
    why = _reason(reason)
    db.add(
        Correction(
            at=datetime.now().replace(microsecond=0),
            actor=actor[:100],
            subject_id=subject.id,
            subject_code=subject.code,
            entity=entity,
            entity_key=key[:160],
            field=field,
            old_value=json.dumps(old, default=str),
            new_value=json.dumps(new, default=str),
            reason=why,
        )
    )
    audit.record(
        db,
        actor,
        f"correction.{entity}",
        subject_code=subject.code,
        target=key,
        reason=why,
        detail={"field": field, "old": old, "new": new},
    )


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{value!r} is not yes or no")


def _field_parsers() -> dict[str, tuple[str, Callable[[Any], Any]]]:
    from pedpain.study import enrolment as e

    parsers: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "age": ("age_months", lambda v: parse_age(str(v))),
        "sex": ("sex", e.check_sex),
        "group": ("group", e.check_group),
        "surgery_type": ("surgery_type", e.check_surgery_type),
        "surgery_hours": ("surgery_hours", e.check_surgery_hours),
        "gestational_age_weeks": ("gestational_age_weeks", e.check_gestation),
    }
    for fact in EXCLUSION_FACTS:
        parsers[fact] = (fact, _bool)
    return parsers


CORRECTABLE_FIELDS = (
    "age",
    "sex",
    "group",
    "surgery_type",
    "surgery_hours",
    "gestational_age_weeks",
    *EXCLUSION_FACTS,
)


def correct_subject(store: Store, code: str, field: str, value: Any, reason: str) -> dict[str, Any]:
    """Correct one enrolment field of child ``code``; returns {field, old, new}."""
    parsers = _field_parsers()
    if field not in parsers:
        raise UsageError(f"field must be one of {', '.join(CORRECTABLE_FIELDS)}")
    column, parse = parsers[field]
    new = parse(value)
    _reason(reason)
    with store.session() as db, db.begin():
        subject = db.scalar(select(Subject).where(Subject.code == code))
        if subject is None:
            raise NotFound(f"no child {code!r}")
        old = getattr(subject, column)
        if old == new:
            raise Conflict(f"{field} of {code} is already {new!r}")
        setattr(subject, column, new)
        record_correction(db, store.actor, subject, "subject", code, column, old, new, reason)
    return {"field": column, "old": old, "new": new}


def _session(db: Any, session_code: str) -> Session:
    row = db.scalar(select(Session).where(Session.code == session_code).with_for_update())
    if row is None:
        raise NotFound(f"no session {session_code!r}")
    return row


def void_session(store: Store, session_code: str, reason: str) -> None:
    """Void a session: kept with who, when and why, excluded from counts, queues,
    statistics and exports (which list it apart)."""
    why = _reason(reason)
    with store.session() as db, db.begin():
        row = _session(db, session_code)
        if row.voided_at is not None:
            raise Conflict(f"{session_code} is already voided")
        moment = datetime.now().replace(microsecond=0)
        row.voided_at, row.voided_by, row.void_reason = moment, store.actor[:100], why
        record_correction(
            db, store.actor, row.subject, "session", session_code, "voided", False, True, why
        )


def move_session(store: Store, session_code: str, to_code: str, reason: str) -> None:
    """File a session under the right child (the one it was recorded for by mistake
    keeps nothing of it). Hours since surgery are recomputed from the new child's end of
    surgery where known."""
    to_code = check_subject_code(to_code)
    why = _reason(reason)
    with store.session() as db, db.begin():
        row = _session(db, session_code)
        target = db.scalar(select(Subject).where(Subject.code == to_code))
        if target is None:
            raise NotFound(f"no child {to_code!r}")
        source = row.subject
        if source.id == target.id:
            raise Conflict(f"{session_code} already belongs to {to_code}")
        row.subject_id = target.id
        if target.surgery_end is not None:
            row.hours_since_surgery = round(
                (row.assessed_at - target.surgery_end).total_seconds() / 3600, 2
            )
        record_correction(
            db, store.actor, target, "session", session_code, "subject", source.code, to_code, why
        )


def list_corrections(store: Store, code: str | None = None) -> list[dict[str, Any]]:
    with store.session() as db:
        query = select(Correction).order_by(Correction.id)
        if code:
            query = query.where(Correction.subject_code == code)
        rows = list(db.scalars(query))
    return [
        {
            "at": r.at.isoformat(),
            "actor": r.actor,
            "subject": r.subject_code,
            "entity": r.entity,
            "key": r.entity_key,
            "field": r.field,
            "old": json.loads(r.old_value) if r.old_value else None,
            "new": json.loads(r.new_value) if r.new_value else None,
            "reason": r.reason,
        }
        for r in rows
    ]
