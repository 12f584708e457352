"""What the researchers' dashboard counts, with the same rules as ``pedpain db stats``
and the exports: voided sessions are left out (and listed), a session "has its ratings"
only with a complete set, deviations from the assessment window are listed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from pedpain.clinical.consensus import RATERS_PER_SESSION
from pedpain.clinical.eligibility import TIME_POINTS
from pedpain.store import Store
from pedpain.store.accounts import AiAssessment
from pedpain.store.models import AuditEntry, Consent, Media, Session, Subject
from pedpain.study.protocol import protocol_deviation


def completeness(store: Store) -> list[dict[str, Any]]:
    """Per time point: sessions, with photos, with a clip, with their 3 ratings, pending
    (some ratings, not all), BPS, BPS blind to the AI, AI, protocol deviations."""
    with store.session() as db:
        sessions = db.execute(
            select(
                Session.id,
                Session.time_point,
                Session.n_ratings,
                Session.bps_score,
                Session.bps_blind_to_ai,
                Session.hours_since_surgery,
                Subject.group,
            )
            .join(Subject)
            .where(Session.voided_at.is_(None))
        ).all()
        kinds: dict[int, set[str]] = {}
        for sid, kind in db.execute(select(Media.session_id, Media.kind)):
            kinds.setdefault(sid, set()).add(kind)
        with_ai = set(db.scalars(select(AiAssessment.session_id).distinct()))
    rows = []
    for tp in TIME_POINTS:
        mine = [s for s in sessions if s.time_point == tp]
        rows.append(
            {
                "time_point": tp,
                "sessions": len(mine),
                "photos": sum("photo" in kinds.get(s.id, set()) for s in mine),
                "clip": sum("video" in kinds.get(s.id, set()) for s in mine),
                "rated_3": sum((s.n_ratings or 0) >= RATERS_PER_SESSION for s in mine),
                "pending": sum(0 < (s.n_ratings or 0) < RATERS_PER_SESSION for s in mine),
                "bps": sum(s.bps_score is not None for s in mine),
                "bps_blind_to_ai": sum(s.bps_blind_to_ai is True for s in mine),
                "ai": sum(s.id in with_ai for s in mine),
                "deviations": sum(
                    protocol_deviation(s.hours_since_surgery, s.group) is not None for s in mine
                ),
            }
        )
    return rows


def deviations(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """Sessions outside the protocol's assessment window (not voided)."""
    with store.session() as db:
        rows = db.execute(
            select(Session.code, Subject.code, Subject.group, Session.hours_since_surgery)
            .join(Subject)
            .where(Session.voided_at.is_(None))
            .order_by(Session.assessed_at)
        ).all()
    out = []
    for session_code, code, group, hours in rows:
        why = protocol_deviation(hours, group)
        if why is not None:
            out.append({"session": session_code, "subject": code, "hours": hours, "why": why})
    return out[:limit]


def voided(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    with store.session() as db:
        rows = db.execute(
            select(
                Session.code,
                Subject.code,
                Session.voided_at,
                Session.voided_by,
                Session.void_reason,
            )
            .join(Subject)
            .where(Session.voided_at.is_not(None))
            .order_by(Session.voided_at.desc())
            .limit(limit)
        ).all()
    return [
        {
            "session": s,
            "subject": c,
            "voided_at": at.isoformat() if at else None,
            "by": by,
            "reason": why,
        }
        for s, c, at, by, why in rows
    ]


def consent_status(store: Store) -> dict[str, int]:
    with store.session() as db:
        given = int(
            db.scalar(
                select(func.count(func.distinct(Consent.subject_id))).where(
                    Consent.event == "given", Consent.guardian_consent.is_(True)
                )
            )
            or 0
        )
        subjects = int(db.scalar(select(func.count()).select_from(Subject)) or 0)
    return {"enrolled_with_consent": given, "enrolled_without_consent": subjects - given}


def audit_entries(
    store: Store,
    *,
    action: str = "",
    actor: str = "",
    subject: str = "",
    page: int = 1,
    per: int = 100,
) -> tuple[list[AuditEntry], bool]:
    """One page of the audit log, newest first, and whether there is a next page."""
    page = max(1, min(page, 10_000))
    with store.session() as db:
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        if action:
            query = query.where(AuditEntry.action == action[:64])
        if actor:
            query = query.where(AuditEntry.actor == actor[:100])
        if subject:
            query = query.where(AuditEntry.subject_code == subject[:32])
        rows = list(db.scalars(query.offset((page - 1) * per).limit(per + 1)))
    return rows[:per], len(rows) > per
