"""Assessment sessions: storing one with its media, running the engine on it, the
nurse's BPS, reading it back. Blinding decisions are in :mod:`pedpain.study.blinding`.

A bedside assessment is stored before it is assessed: the session row and its encrypted
media are committed first, then the engine runs on them. If the engine fails, nothing the
nurse entered is lost and the assessment can be run again.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from pedpain.clinical.scales import normalise
from pedpain.core.logging import get_logger
from pedpain.store import Store, audit
from pedpain.store.accounts import AiAssessment
from pedpain.store.models import Media, Session, Subject
from pedpain.study.enrolment import get_subject
from pedpain.study.errors import Conflict, NotFound
from pedpain.study.intake import CheckedMedia
from pedpain.study.protocol import (
    StudyRules,
    check_hours,
    check_time_point,
    observer_scale,
    protocol_deviation,
    score_from,
)
from pedpain.study.ratings import lock_session
from pedpain.vision.reading import MediaRejected, read_image

log = get_logger(__name__)


def actor_store(store: Store, actor: str) -> Store:
    """The same database, writing audit entries under ``actor`` (the signed-in user)."""
    return replace(store, actor=actor)


def create_session(
    store: Store,
    code: str,
    time_point: str,
    media: list[CheckedMedia],
    hours_since_surgery: Any = None,
) -> str:
    """Store a new assessment session with its encrypted media; returns its code.

    Hours since surgery: checked for plausibility (refused otherwise); computed from the
    end of surgery when not given. Outside the protocol's window the session is stored
    and counted as a deviation (:func:`pedpain.study.protocol.protocol_deviation`)."""
    time_point = check_time_point(time_point)
    hours = check_hours(hours_since_surgery)
    subject = get_subject(store, code)
    moment = datetime.now().replace(microsecond=0)
    if hours is None and subject.surgery_end is not None:
        hours = check_hours(round((moment - subject.surgery_end).total_seconds() / 3600, 2))
    # Upper case: a session code stays inside the import layout's code alphabet.
    session_code = f"{code}-{moment:%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
    vault = store.media()
    staged = [vault.stage(m.data, m.sha) for m in media if not vault.has(m.sha)]
    try:
        with store.session() as db, db.begin():
            row = Session(
                code=session_code,
                subject_id=subject.id,
                time_point=time_point,
                assessed_at=moment,
                hours_since_surgery=hours,
                n_ratings=0,
                needs_adjudication=False,
            )
            row.media = [
                Media(
                    slot=m.slot,
                    kind=m.kind,
                    sha256=m.sha,
                    size_bytes=len(m.data),
                    width=m.width,
                    height=m.height,
                    frames=m.frames,
                    fps=m.fps,
                    duration_s=m.duration_s,
                    capture_device="web",
                )
                for m in media
            ]
            db.add(row)
            audit.record(
                db,
                store.actor,
                "session.create",
                subject_code=code,
                target=session_code,
                detail={
                    "time_point": time_point,
                    "media": [m.slot for m in media],
                    "deviation": protocol_deviation(hours, subject.group),
                },
            )
    except BaseException:
        for path in staged:
            vault.discard(path)
        raise
    for path in staged:
        vault.promote(path)
    return session_code


def _load(db: Any, session_code: str) -> Session | None:
    return db.scalar(
        select(Session)
        .where(Session.code == session_code)
        .options(
            selectinload(Session.subject),
            selectinload(Session.media),
            selectinload(Session.ratings),
        )
    )


def get_session(store: Store, code: str, session_code: str) -> Session:
    """The session ``session_code`` of child ``code`` (NotFound if it belongs to another)."""
    with store.session() as db:
        row = _load(db, session_code)
    if row is None or row.subject.code != code:
        raise NotFound("no such assessment for this child")
    return row


def find_session(store: Store, session_code: str) -> Session:
    with store.session() as db:
        row = _load(db, session_code)
    if row is None:
        raise NotFound("no such session")
    return row


def latest_assessment(store: Store, session_id: int) -> dict[str, Any] | None:
    """The AI's latest result for a session, unfiltered: callers show it only where
    :mod:`pedpain.study.blinding` allows."""
    with store.session() as db:
        row = db.scalar(
            select(AiAssessment)
            .where(AiAssessment.session_id == session_id)
            .order_by(AiAssessment.id.desc())
            .limit(1)
        )
    if row is None:
        return None
    doc: dict[str, Any] = json.loads(row.result_json)
    doc["assessed_at"] = row.created_at.isoformat()
    return doc


def has_assessment(store: Store, session_id: int) -> bool:
    with store.session() as db:
        return (
            db.scalar(select(AiAssessment.id).where(AiAssessment.session_id == session_id))
            is not None
        )


def read_media(store: Store, session: Session, slot: str) -> tuple[str, bytes]:
    """One stored file of a session (an audited read); returns (kind, bytes)."""
    for m in session.media:
        if m.slot == slot:
            data = store.media().read(m.sha256)
            store.audit(
                "media.read", subject_code=session.subject.code, target=f"{session.code}/{slot}"
            )
            return m.kind, data
    raise NotFound("no such file")


def _usable(paths: list[Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """The photos of a group that decode; the others with the reason (a group is scored
    on what can be read rather than failing whole)."""
    usable, unusable = [], []
    for path in paths:
        try:
            read_image(path)
            usable.append(path)
        except MediaRejected as exc:
            unusable.append({"slot": path.name, "reason": exc.message})
    return usable, unusable


def run_assessment(store: Store, engines: Any, session: Session, username: str) -> dict[str, Any]:
    """Decrypt the session's media into a private temporary folder, run the engine, store
    and return the result (status ``error`` with a reason when the engine fails). A voided
    session is not assessed."""
    if session.voided_at is not None:
        raise Conflict("this session was voided: it is not assessed")
    subject = session.subject
    tmp = Path(tempfile.mkdtemp(prefix="pedpain-web-"))  # mode 0700
    unusable: list[dict[str, str]] = []
    try:
        paths = []
        vault = store.media()
        for m in session.media:
            target = tmp / m.slot
            target.write_bytes(vault.read(m.sha256))
            paths.append(target)
        store.audit(
            "media.read", subject_code=subject.code, target=session.code, reason="assessment"
        )
        photos = bool(session.media) and session.media[0].kind == "photo"
        if photos:
            paths, unusable = _usable(paths)
        try:
            if not paths:
                raise MediaRejected("unreadable", "no photo of this session can be read")
            result = engines.assess(
                paths if photos else paths[0], age=subject.age_months, heatmap_dir=tmp / "heat"
            )
            doc = result.to_dict()
            heat = doc.get("explanation", {}).get("heatmap")
            if heat:
                data = Path(heat).read_bytes()
                doc["explanation"]["heatmap"] = "data:image/png;base64," + base64.b64encode(
                    data
                ).decode("ascii")
        except Exception as exc:  # the nurse's data is already safe; say what went wrong
            log.warning("assessment failed", extra={"session": session.code, "error": repr(exc)})
            message = getattr(exc, "message", None) or f"internal error ({type(exc).__name__})"
            doc = {"status": "error", "reason": f"assessment failed: {message}", "score": None}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for key in ("input", "inputs"):
        doc.pop(key, None)  # temporary paths mean nothing later
    if photos:
        doc["photos_used"] = [p.name for p in paths]
        doc["photos_unusable"] = unusable
    scale = doc.get("scale") or {}
    with store.session() as db, db.begin():
        db.add(
            AiAssessment(
                session_id=session.id,
                created_at=datetime.now().replace(microsecond=0),
                created_by=username,
                status=str(doc.get("status", "error"))[:8],
                reason=doc.get("reason"),
                score=doc.get("score"),
                scale_name=scale.get("name"),
                scale_score=scale.get("score"),
                needs_treatment=doc.get("needs_treatment"),
                model_name=(doc.get("model") or {}).get("name"),
                model_sha256=(doc.get("model") or {}).get("sha256"),
                result_json=json.dumps(doc, default=str),
            )
        )
        audit.record(
            db,
            store.actor,
            "assessment.run",
            subject_code=subject.code,
            target=session.code,
            detail={"status": doc.get("status"), "model": (doc.get("model") or {}).get("sha256")},
        )
    return doc


def set_bps(
    store: Store,
    session: Session,
    score: Any,
    rules: StudyRules,
    *,
    scale_code: str | None = None,
    text: bool = False,
) -> bool:
    """The nurse's own behavioural pain score for this session, entered once (a change is
    a correction). Records whether it was blind to the AI: in the validation phase the AI
    is hidden until the BPS is in, so it always is; otherwise it is blind only when no AI
    result existed yet. Returns that flag."""
    subject = session.subject
    scale = observer_scale(subject.age_months, scale_code)
    value = score_from(score, scale, text=text)
    normalised = normalise(value, scale)
    blind = rules.validation_phase or not has_assessment(store, session.id)
    with store.session() as db, db.begin():
        row = lock_session(db, session.id)
        if row.voided_at is not None:
            raise Conflict("this session was voided")
        if row.bps_score is not None:
            raise Conflict("the BPS of this session is already recorded")
        row.bps_scale, row.bps_score, row.bps_normalised = scale.code, value, normalised
        row.bps_blind_to_ai = blind
        audit.record(
            db,
            store.actor,
            "session.bps",
            subject_code=subject.code,
            target=session.code,
            detail={"scale": scale.code, "score": value, "blind_to_ai": blind},
        )
    return blind


def subject_sessions(store: Store, subject: Subject) -> dict[int, float | None]:
    """The latest AI score of each of the child's sessions."""
    with store.session() as db:
        return {
            sid: score
            for sid, score in db.execute(
                select(AiAssessment.session_id, AiAssessment.score)
                .join(Session)
                .where(Session.subject_id == subject.id)
                .order_by(AiAssessment.id)
            )
        }


def unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate" in text
