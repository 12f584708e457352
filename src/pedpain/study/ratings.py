"""Ratings: each session is scored by exactly 3 professionals, blind to each other and
to the AI; a further rating is only an explicit adjudication by a researcher, with a
reason. The label exists only from a complete set (:mod:`pedpain.clinical.reference`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pedpain.clinical.age import format_age
from pedpain.clinical.consensus import RATERS_PER_SESSION
from pedpain.clinical.reference import reference_consensus
from pedpain.clinical.scales import normalise, recommended_scale
from pedpain.core.errors import UsageError
from pedpain.store import Store, audit
from pedpain.store.models import Media, Rating, Session, Subject
from pedpain.study.corrections import record_correction
from pedpain.study.errors import Conflict, Forbidden
from pedpain.study.protocol import observer_scale, score_from


def own_rating(session: Session, rater: str) -> Rating | None:
    return next((r for r in session.ratings if r.rater == rater), None)


def rater_queue(store: Store, rater: str, limit: int = 100) -> list[dict[str, Any]]:
    """Sessions that still need ratings and that this rater has not scored: no time
    point, no AI, no BPS (they would hint at the answer)."""
    with store.session() as db:
        mine = select(Rating.session_id).where(Rating.rater == rater)
        with_media = select(Media.session_id)
        rows = db.execute(
            select(Session.code, Subject.age_months)
            .join(Subject)
            .where(
                Session.voided_at.is_(None),
                Session.n_ratings < RATERS_PER_SESSION,
                Session.id.not_in(mine),
                Session.id.in_(with_media),
            )
            .order_by(Session.assessed_at)
            .limit(limit)
        ).all()
    out = []
    for session_code, months in rows:
        scale = recommended_scale(months)
        out.append(
            {
                "session": session_code,
                "age": format_age(months),
                "scale": scale.code if scale else None,
            }
        )
    return out


def recompute(db: Any, session_id: int) -> None:
    """The session's label and counts from its ratings, under the complete-set rule."""
    regular: list[float] = []
    adjudications: list[float] = []
    for value, adjudication in db.execute(
        select(Rating.normalised, Rating.adjudication).where(Rating.session_id == session_id)
    ):
        (adjudications if adjudication else regular).append(value)
    c = reference_consensus(regular, adjudications)
    row = db.get_one(Session, session_id)
    row.consensus_score, row.rater_spread = c.score, c.spread
    row.n_ratings, row.needs_adjudication = c.n_ratings, c.needs_adjudication


def lock_session(db: Any, session_id: int) -> Session:
    """The session row, locked for the rest of the transaction, read after the lock.

    A no-op UPDATE as the transaction's first statement is the portable lock: PostgreSQL
    locks the row, SQLite takes its write lock (waiting on busy_timeout) before anything
    is read, so two raters submitting at once are counted one after the other."""
    db.execute(update(Session).where(Session.id == session_id).values(n_ratings=Session.n_ratings))
    row: Session = db.get_one(Session, session_id, populate_existing=True)
    return row


def _locked(db: Any, session_id: int) -> Session:
    row = lock_session(db, session_id)
    if row.voided_at is not None:
        raise Conflict("this session was voided: it takes no more ratings")
    return row


def submit_rating(
    store: Store, session: Session, rater: str, score: Any, *, text: bool = False
) -> None:
    """A rater's score on the age-appropriate scale. Refused (409) once the session has
    its 3 ratings, or when this rater already scored it."""
    scale = observer_scale(session.subject.age_months)
    value = score_from(score, scale, text=text)
    try:
        with store.session() as db, db.begin():
            row = _locked(db, session.id)
            existing = list(db.scalars(select(Rating).where(Rating.session_id == row.id)))
            if any(r.rater == rater for r in existing):
                raise Conflict("you have already scored this session")
            if sum(not r.adjudication for r in existing) >= RATERS_PER_SESSION:
                raise Conflict(
                    f"this session already has its {RATERS_PER_SESSION} ratings; a further "
                    "rating is an adjudication by a researcher, with a reason"
                )
            db.add(
                Rating(
                    session_id=row.id,
                    rater=rater[:32],
                    role="rater",
                    scale=scale.code,
                    raw_score=value,
                    normalised=normalise(value, scale),
                    blinded=True,
                    adjudication=False,
                    rated_at=datetime.now().replace(microsecond=0),
                )
            )
            db.flush()
            recompute(db, row.id)
            audit.record(
                db,
                store.actor,
                "rating.submit",
                subject_code=session.subject.code,
                target=session.code,
                detail={"scale": scale.code, "blinded": True},
            )
    except IntegrityError:
        raise Conflict("this score was already submitted (a simultaneous request)") from None


def adjudicate(
    store: Store, session: Session, researcher: str, score: Any, reason: str, *, text: bool = False
) -> None:
    """A researcher's adjudication of a session with a complete set of ratings: it
    becomes the session's label (the raters' scores stay recorded)."""
    if not reason or not reason.strip():
        raise UsageError("an adjudication needs a reason")
    scale = observer_scale(session.subject.age_months)
    value = score_from(score, scale, text=text)
    try:
        with store.session() as db, db.begin():
            row = _locked(db, session.id)
            existing = list(db.scalars(select(Rating).where(Rating.session_id == row.id)))
            if sum(not r.adjudication for r in existing) < RATERS_PER_SESSION:
                raise Conflict(
                    "an adjudication settles a complete set of ratings: this session's is "
                    "still pending"
                )
            if any(r.rater == researcher for r in existing):
                raise Conflict("you have already rated or adjudicated this session")
            db.add(
                Rating(
                    session_id=row.id,
                    rater=researcher[:32],
                    role="researcher",
                    scale=scale.code,
                    raw_score=value,
                    normalised=normalise(value, scale),
                    blinded=False,
                    adjudication=True,
                    adjudication_reason=reason.strip(),
                    rated_at=datetime.now().replace(microsecond=0),
                )
            )
            db.flush()
            recompute(db, row.id)
            audit.record(
                db,
                store.actor,
                "rating.adjudicate",
                subject_code=session.subject.code,
                target=session.code,
                reason=reason.strip(),
                detail={"scale": scale.code, "score": value},
            )
    except IntegrityError:
        raise Conflict("this adjudication was already submitted") from None


def amend_rating(
    store: Store, session: Session, rater: str, score: Any, reason: str, *, text: bool = False
) -> None:
    """A rater corrects their own score (a typing error) while the set is still
    incomplete; afterwards the label stands and only an adjudication can settle it."""
    if not reason or not reason.strip():
        raise UsageError("a correction needs a reason")
    scale = observer_scale(session.subject.age_months)
    value = score_from(score, scale, text=text)
    with store.session() as db, db.begin():
        row = _locked(db, session.id)
        mine = db.scalar(select(Rating).where(Rating.session_id == row.id, Rating.rater == rater))
        if mine is None or mine.adjudication:
            raise Forbidden("only your own rating of this session can be corrected")
        if row.n_ratings >= RATERS_PER_SESSION:
            raise Conflict(
                "the set of ratings is complete: the label stands; ask a researcher to adjudicate"
            )
        old = mine.raw_score
        mine.raw_score, mine.normalised = value, normalise(value, scale)
        db.flush()
        recompute(db, row.id)
        record_correction(
            db,
            store.actor,
            session.subject,
            "rating",
            f"{session.code}/{rater}",
            "raw_score",
            old,
            value,
            reason,
        )
