"""What the web app does with the study's data: enrol and find children, store an
assessment's media and run the engine on them, the nurse's BPS score, the rater's blind
score, the child's timeline, the cohort dashboard. No HTTP here: pages and the JSON API
are thin shells over these functions.

A bedside assessment is stored before it is assessed: the session row and its encrypted
media are committed first, then the engine runs on them. If the engine fails, nothing the
nurse entered is lost and the assessment can be run again.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from pedpain.clinical.age import format_age, parse_age
from pedpain.clinical.consensus import RATERS_PER_SESSION, consensus
from pedpain.clinical.eligibility import (
    EXCLUSION_FACTS,
    GROUPS,
    SURGERY_TYPES,
    TIME_POINTS,
    ConsentEvent,
    SubjectFacts,
    screen_consent,
    screen_subject,
)
from pedpain.clinical.scales import PainScale, normalise, recommended_scale, scale_by_name
from pedpain.core.errors import InputsRejected, UsageError
from pedpain.core.logging import get_logger
from pedpain.store import Store, audit
from pedpain.store.accounts import AiAssessment
from pedpain.store.media import sha256_hex
from pedpain.store.models import Consent, Media, Rating, ScreeningRejection, Session, Subject
from pedpain.vision.reading import MediaRejected, sniff_kind

log = get_logger(__name__)

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")
MAX_PHOTOS = 3
CONSENT_VERSION = "web-1"


class NotFound(Exception):
    """A child or session that does not exist (or not where the URL says)."""


def check_code(code: str) -> str:
    code = code.strip()
    if not CODE.match(code):
        raise UsageError(
            "a pseudonymous code is 2-32 letters, digits, - or _ (never the child's name)"
        )
    return code


def actor_store(store: Store, actor: str) -> Store:
    """The same database, writing audit entries under ``actor`` (the signed-in user)."""
    return replace(store, actor=actor)


# ----------------------------------------------------------------------------- children
def find_children(store: Store, query: str, limit: int = 50) -> list[dict[str, Any]]:
    q = query.strip()
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
            "sessions": len(s.sessions),
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
    return str(form.get(name, "")).lower() in ("1", "on", "true", "yes")


def _opt_float(value: Any, what: str) -> float | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise UsageError(f"{what} must be a number")
    return number


def _opt_datetime(value: Any, what: str) -> datetime | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise UsageError(f"{what} must be a date and time like 2026-05-01T08:30") from None


def enrol_child(store: Store, form: dict[str, Any]) -> Enrolment:
    """Screen and enrol one child from the enrolment form (fields: code, age, sex, group,
    surgery_type, surgery_end, surgery_hours, gestational_age_weeks, the exclusion
    facts, guardian_consent, child_assent). An ineligible child goes to the screening
    log, as the importer does."""
    code = check_code(str(form.get("code", "")))
    months = parse_age(str(form.get("age", "")))
    sex = str(form.get("sex", "")).upper()
    if sex not in ("F", "M"):
        raise UsageError("sex must be F or M")
    group = str(form.get("group", "experimental"))
    if group not in GROUPS:
        raise UsageError(f"group must be one of {', '.join(GROUPS)}")
    surgery_type = str(form.get("surgery_type", "") or "") or None
    if surgery_type is not None and surgery_type not in SURGERY_TYPES:
        raise UsageError(f"surgery type must be one of {', '.join(SURGERY_TYPES)}")
    end = _opt_datetime(form.get("surgery_end"), "end of surgery")
    hours = _opt_float(form.get("surgery_hours"), "surgery duration")
    if hours is not None and not 0 < hours < 48:
        raise UsageError("surgery duration must be between 0 and 48 hours")
    start = end - timedelta(hours=hours) if end is not None and hours is not None else None
    gestation = _opt_float(form.get("gestational_age_weeks"), "gestational age")
    if gestation is not None and not 20 <= gestation <= 45:
        raise UsageError("gestational age must be 20-45 weeks")
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
        _flag(form, "child_assent") if "child_assent" in form else None,
        CONSENT_VERSION,
    )
    findings = screen_subject(facts)
    problem = screen_consent([consent], months)
    if problem is not None:
        findings.append(problem)
    with store.session() as db, db.begin():
        if code in audit.withdrawn_codes(db, [code]):
            raise UsageError(f"{code} withdrew from the study and cannot be enrolled again")
        if db.scalar(select(Subject.id).where(Subject.code == code)) is not None:
            raise UsageError(f"{code} is already enrolled")
        moment = datetime.now().replace(microsecond=0)
        if findings:
            db.execute(delete_screening(code))
            db.add(
                ScreeningRejection(
                    subject_code=code,
                    group=group,
                    age_months=months,
                    reasons=json.dumps([{"code": f.code, "message": f.message} for f in findings]),
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
            return Enrolment(
                code, False, [{"code": f.code, "message": f.message} for f in findings]
            )
        db.execute(delete_screening(code))
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
    return Enrolment(code, True)


def delete_screening(code: str) -> Any:
    from sqlalchemy import delete

    return delete(ScreeningRejection).where(ScreeningRejection.subject_code == code)


def get_subject(store: Store, code: str) -> Subject:
    if not CODE.match(code or ""):
        raise NotFound(code)
    with store.session() as db:
        subject = db.scalar(
            select(Subject)
            .where(Subject.code == code)
            .options(selectinload(Subject.sessions).selectinload(Session.media))
        )
    if subject is None:
        raise NotFound(code)
    return subject


def scale_for(subject: Subject) -> PainScale | None:
    return recommended_scale(subject.age_months)


# ----------------------------------------------------------------------------- uploads
@dataclass
class Upload:
    name: str
    data: bytes


@dataclass
class CheckedMedia:
    kind: str  # photo | video
    slot: str
    data: bytes
    sha: str
    width: int | None = None
    height: int | None = None


def check_uploads(uploads: list[Upload], workdir: Path) -> list[CheckedMedia]:
    """1-3 photos or one clip, each recognised by its content (never its name); raises
    InputsRejected with a sentence a nurse understands."""
    uploads = [u for u in uploads if u.data]
    if not uploads:
        raise InputsRejected("add 1 to 3 photos or one 10 s clip")
    checked: list[CheckedMedia] = []
    for i, up in enumerate(uploads):
        probe = workdir / f"probe-{i}"
        probe.write_bytes(up.data)
        try:
            fmt = sniff_kind(probe)
        except MediaRejected as exc:
            raise InputsRejected(
                f"file {i + 1} is not a photo or video pedpain reads: {exc}"
            ) from None
        finally:
            probe.unlink(missing_ok=True)
        kind = "photo" if fmt.kind == "image" else "video"
        width = height = None
        if kind == "photo":
            width, height = _image_size(up.data)
        checked.append(CheckedMedia(kind, "", up.data, sha256_hex(up.data), width, height))
    kinds = Counter(c.kind for c in checked)
    if kinds["video"] > 1 or (kinds["video"] and kinds["photo"]):
        raise InputsRejected("one assessment is 1 to 3 photos or one clip, not both")
    if kinds["photo"] > MAX_PHOTOS:
        raise InputsRejected(f"at most {MAX_PHOTOS} photos per assessment")
    for i, c in enumerate(checked):
        c.slot = (
            f"{c.kind}_{i + 1}.{ext_of(c.data)}" if c.kind == "photo" else f"clip.{ext_of(c.data)}"
        )
    return checked


def ext_of(data: bytes) -> str:
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    return "bin"


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.width), int(img.height)
    except (UnidentifiedImageError, OSError, ValueError):
        return None, None


def create_session(
    store: Store,
    code: str,
    time_point: str,
    media: list[CheckedMedia],
    hours_since_surgery: float | None = None,
) -> str:
    """Store a new assessment session with its encrypted media; returns its code."""
    if time_point not in TIME_POINTS:
        raise UsageError(f"time point must be one of {', '.join(TIME_POINTS)}")
    subject = get_subject(store, code)
    moment = datetime.now().replace(microsecond=0)
    if hours_since_surgery is None and subject.surgery_end is not None:
        hours_since_surgery = round((moment - subject.surgery_end).total_seconds() / 3600, 2)
    session_code = f"{code}-{moment:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    vault = store.media()
    staged = [vault.stage(m.data, m.sha) for m in media if not vault.has(m.sha)]
    try:
        with store.session() as db, db.begin():
            row = Session(
                code=session_code,
                subject_id=subject.id,
                time_point=time_point,
                assessed_at=moment,
                hours_since_surgery=hours_since_surgery,
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
                detail={"time_point": time_point, "media": [m.slot for m in media]},
            )
    except BaseException:
        for path in staged:
            vault.discard(path)
        raise
    for path in staged:
        vault.promote(path)
    return session_code


def get_session(store: Store, code: str, session_code: str) -> Session:
    """The session ``session_code`` of child ``code`` (NotFound if it belongs to another)."""
    with store.session() as db:
        row = db.scalar(
            select(Session)
            .where(Session.code == session_code)
            .options(
                selectinload(Session.subject),
                selectinload(Session.media),
                selectinload(Session.ratings),
            )
        )
    if row is None or row.subject.code != code:
        raise NotFound(session_code)
    return row


def latest_assessment(store: Store, session_id: int) -> dict[str, Any] | None:
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


def read_media(store: Store, session: Session, slot: str) -> tuple[str, bytes]:
    """One stored file of a session (an audited read); returns (kind, bytes)."""
    for m in session.media:
        if m.slot == slot:
            data = store.media().read(m.sha256)
            store.audit(
                "media.read", subject_code=session.subject.code, target=f"{session.code}/{slot}"
            )
            return m.kind, data
    raise NotFound(slot)


def _assess_media(
    store: Store, engines: Any, session: Session, explain: bool, reason: str
) -> dict[str, Any]:
    """Decrypt the session's media into a private temporary folder and run the engine
    (with the explanation and its heat map inline when ``explain``); raises on failure."""
    tmp = Path(tempfile.mkdtemp(prefix="pedpain-web-"))  # mode 0700
    try:
        paths = []
        vault = store.media()
        for m in session.media:
            target = tmp / m.slot
            target.write_bytes(vault.read(m.sha256))
            paths.append(target)
        store.audit(
            "media.read", subject_code=session.subject.code, target=session.code, reason=reason
        )
        result = engines.assess(
            paths if len(paths) > 1 or session.media[0].kind == "photo" else paths[0],
            age=session.subject.age_months,
            explain=explain,
            # Grad-CAM (a backward pass) only when the nurse opens the explanation.
            heatmap_dir=tmp / "heat" if explain else None,
        )
        doc: dict[str, Any] = result.to_dict()
        heat = doc.get("explanation", {}).get("heatmap")
        if heat:
            import base64

            data = Path(heat).read_bytes()
            doc["explanation"]["heatmap"] = "data:image/png;base64," + base64.b64encode(
                data
            ).decode("ascii")
        return doc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def explain_assessment(store: Store, engines: Any, session: Session) -> dict[str, Any]:
    """The explanation (facial measures, Grad-CAM heat map) of the session's latest
    assessment, computed on request with the same model; not stored. UsageError when the
    session has no score to explain or the active model is no longer the one that scored
    it (its explanation would be another model's)."""
    latest = latest_assessment(store, session.id)
    if latest is None or latest.get("status") != "ok":
        raise UsageError("this assessment has no score to explain")
    doc = _assess_media(store, engines, session, explain=True, reason="explanation")
    scored_by = (latest.get("model") or {}).get("sha256")
    if doc.get("status") != "ok" or (doc.get("model") or {}).get("sha256") != scored_by:
        raise UsageError("the active model changed since this score: assess again to explain it")
    return {"explanation": doc["explanation"], "model": doc["model"], "score": doc["score"]}


def run_assessment(
    store: Store, engines: Any, session: Session, username: str, explain: bool = False
) -> dict[str, Any]:
    """Run the engine on the session's media (the explanation only when ``explain``),
    store and return the result (status ``error`` with a reason when the engine fails)."""
    subject = session.subject
    try:
        doc = _assess_media(store, engines, session, explain, "assessment")
    except Exception as exc:  # the nurse's data is already safe; say what went wrong
        log.warning("assessment failed", extra={"session": session.code, "error": repr(exc)})
        message = getattr(exc, "message", None) or f"internal error ({type(exc).__name__})"
        doc = {"status": "error", "reason": f"assessment failed: {message}", "score": None}
    for key in ("input", "inputs"):
        doc.pop(key, None)  # temporary paths mean nothing later
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


def set_bps(store: Store, session: Session, score: float, scale_code: str | None = None) -> None:
    """The nurse's own behavioural pain score for this session."""
    subject = session.subject
    scale = scale_by_name(scale_code) if scale_code else scale_for(subject)
    if scale is None:
        raise UsageError("no observer scale fits this child's age: choose one")
    value = normalise(score, scale)
    with store.session() as db, db.begin():
        row = db.get_one(Session, session.id)
        row.bps_scale, row.bps_score, row.bps_normalised = scale.code, score, value
        audit.record(
            db,
            store.actor,
            "session.bps",
            subject_code=subject.code,
            target=session.code,
            detail={"scale": scale.code, "score": score},
        )


def timeline(store: Store, subject: Subject) -> list[dict[str, Any]]:
    """One point per session: time point, hours since surgery, AI and BPS (0-10)."""
    with store.session() as db:
        ai = {
            sid: score
            for sid, score in db.execute(
                select(AiAssessment.session_id, AiAssessment.score)
                .join(Session)
                .where(Session.subject_id == subject.id)
                .order_by(AiAssessment.id)
            )
        }
    points = []
    for s in subject.sessions:
        points.append(
            {
                "session": s.code,
                "time_point": s.time_point,
                "assessed_at": s.assessed_at,
                "hours": s.hours_since_surgery,
                "ai": ai.get(s.id),
                "bps": s.bps_normalised,
                "bps_raw": s.bps_score,
                "bps_scale": s.bps_scale,
                "consensus": s.consensus_score,
            }
        )
    return points


# ----------------------------------------------------------------------------- raters
def rater_queue(store: Store, rater: str, limit: int = 100) -> list[dict[str, Any]]:
    """Sessions with media that still need ratings and that this rater has not scored."""
    with store.session() as db:
        mine = select(Rating.session_id).where(Rating.rater == rater)
        with_media = select(Media.session_id)
        rows = db.execute(
            select(Session.code, Subject.code, Subject.age_months, Session.time_point)
            .join(Subject)
            .where(
                Session.n_ratings < RATERS_PER_SESSION,
                Session.id.not_in(mine),
                Session.id.in_(with_media),
            )
            .order_by(Session.assessed_at)
            .limit(limit)
        ).all()
    out = []
    for session_code, code, months, tp in rows:
        scale = recommended_scale(months)
        out.append(
            {
                "session": session_code,
                "subject": code,
                "age": format_age(months),
                "time_point": tp,
                "scale": scale.code if scale else None,
            }
        )
    return out


def find_session(store: Store, session_code: str) -> Session:
    with store.session() as db:
        row = db.scalar(
            select(Session)
            .where(Session.code == session_code)
            .options(
                selectinload(Session.subject),
                selectinload(Session.media),
                selectinload(Session.ratings),
            )
        )
    if row is None:
        raise NotFound(session_code)
    return row


def has_rated(session: Session, rater: str) -> bool:
    return any(r.rater == rater for r in session.ratings)


def submit_rating(store: Store, session: Session, rater: str, score: float) -> None:
    """A rater's score on the age-appropriate scale; the session's consensus follows."""
    scale = scale_for(session.subject)
    if scale is None:
        raise UsageError("no observer scale fits this child's age")
    value = normalise(score, scale)
    with store.session() as db, db.begin():
        if db.scalar(
            select(Rating.id).where(Rating.session_id == session.id, Rating.rater == rater)
        ):
            raise UsageError("you have already scored this session")
        db.add(
            Rating(
                session_id=session.id,
                rater=rater[:32],
                role="rater",
                scale=scale.code,
                raw_score=score,
                normalised=value,
                blinded=True,
            )
        )
        db.flush()
        scores = list(db.scalars(select(Rating.normalised).where(Rating.session_id == session.id)))
        c = consensus(scores)
        row = db.get_one(Session, session.id)
        row.consensus_score, row.rater_spread = c.score, c.spread
        row.n_ratings, row.needs_adjudication = c.n_ratings, c.needs_adjudication
        audit.record(
            db,
            store.actor,
            "rating.submit",
            subject_code=session.subject.code,
            target=session.code,
            detail={"scale": scale.code, "blinded": True},
        )


# ----------------------------------------------------------------------------- dashboard
def completeness(store: Store) -> list[dict[str, Any]]:
    """Per time point: sessions, with photos, with a clip, with 3 ratings, BPS, AI."""
    with store.session() as db:
        sessions = db.execute(
            select(Session.id, Session.time_point, Session.n_ratings, Session.bps_score)
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
                "bps": sum(s.bps_score is not None for s in mine),
                "ai": sum(s.id in with_ai for s in mine),
            }
        )
    return rows


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
