"""Blinding as a study design, decided here and nowhere else:

- nurses never see the raters' scores or the consensus;
- raters see neither the AI, the BPS, the time point nor the other raters until they have
  submitted their own score;
- in the validation phase (:class:`pedpain.study.protocol.StudyRules`) the nurse enters the
  BPS before the AI score of that session is shown.

Pages and the API build what they show from these functions only.
"""

from __future__ import annotations

from typing import Any

from pedpain.clinical.age import format_age
from pedpain.store import Store
from pedpain.store.models import Session, Subject
from pedpain.study import sessions as sessions_
from pedpain.study.protocol import StudyRules, protocol_deviation

AI_HIDDEN = "the AI score is shown once the BPS is entered (validation phase)"


def ai_visible(role: str, session: Session, rules: StudyRules, rater: str = "") -> bool:
    if role == "researcher":
        return True
    if role == "nurse":
        return not rules.validation_phase or session.bps_score is not None
    if role == "rater":
        return any(r.rater == rater for r in session.ratings)
    return False


def ratings_visible(role: str, session: Session, rater: str = "") -> bool:
    """Raters' scores and the consensus: researchers always, a rater after their own
    score, nurses never."""
    if role == "researcher":
        return True
    if role == "rater":
        return any(r.rater == rater for r in session.ratings)
    return False


def ai_result(
    store: Store, session: Session, role: str, rules: StudyRules, rater: str = ""
) -> dict[str, Any] | None:
    """The AI's latest result if ``role`` may see it now, else None."""
    if not ai_visible(role, session, rules, rater):
        return None
    return sessions_.latest_assessment(store, session.id)


def timeline(store: Store, subject: Subject, role: str, rules: StudyRules) -> list[dict[str, Any]]:
    """One point per session for the child's page and API: time point, hours since
    surgery, AI and BPS (0-10). Voided sessions are left out for nurses and flagged for
    researchers; the consensus appears for researchers only, and only from a complete set
    of ratings."""
    ai = sessions_.subject_sessions(store, subject)
    points = []
    for s in subject.sessions:
        if s.voided_at is not None and role != "researcher":
            continue
        point: dict[str, Any] = {
            "session": s.code,
            "time_point": s.time_point,
            "assessed_at": s.assessed_at,
            "hours": s.hours_since_surgery,
            "deviation": protocol_deviation(s.hours_since_surgery, subject.group),
            "ai": ai.get(s.id) if ai_visible(role, s, rules) else None,
            "ai_hidden": not ai_visible(role, s, rules) and s.id in ai,
            "bps": s.bps_normalised,
            "bps_raw": s.bps_score,
            "bps_scale": s.bps_scale,
            "bps_blind_to_ai": s.bps_blind_to_ai,
        }
        if role == "researcher":
            point["consensus"] = s.consensus_score
            point["ratings"] = s.n_ratings
            point["voided"] = s.voided_at is not None
        points.append(point)
    return points


def session_view(store: Store, session: Session, role: str, rules: StudyRules) -> dict[str, Any]:
    """A session as the nurse or researcher sees it (API document)."""
    visible = ai_visible(role, session, rules)
    doc: dict[str, Any] = {
        "session": session.code,
        "time_point": session.time_point,
        "hours_since_surgery": session.hours_since_surgery,
        "deviation": protocol_deviation(session.hours_since_surgery, session.subject.group),
        "voided": session.voided_at is not None,
        "bps": {
            "scale": session.bps_scale,
            "score": session.bps_score,
            "blind_to_ai": session.bps_blind_to_ai,
        },
        "result": sessions_.latest_assessment(store, session.id) if visible else None,
        "ai_hidden": None if visible else AI_HIDDEN,
    }
    if role == "researcher":
        doc["consensus"] = session.consensus_score
        doc["n_ratings"] = session.n_ratings
        doc["needs_adjudication"] = session.needs_adjudication
    return doc


def rater_view(store: Store, session: Session, rater: str, rules: StudyRules) -> dict[str, Any]:
    """What a rater sees of a session: before their own score, the child's age and the
    scale only (no AI, BPS, time point or other raters); after it, everything."""
    from pedpain.study.ratings import own_rating

    doc: dict[str, Any] = {
        "session": session.code,
        "age": format_age(session.subject.age_months),
        "media": [m.slot for m in session.media],
        "done": own_rating(session, rater) is not None,
    }
    if doc["done"]:
        mine = own_rating(session, rater)
        assert mine is not None
        doc["unblinded"] = {
            "time_point": session.time_point,
            "bps": {"scale": session.bps_scale, "score": session.bps_score},
            "ai": ai_result(store, session, "rater", rules, rater),
            "ratings": [
                {
                    "rater": "you" if r.rater == rater else "another rater",
                    "score": r.raw_score,
                    "scale": r.scale,
                    "adjudication": r.adjudication,
                }
                for r in session.ratings
            ],
            "consensus": session.consensus_score,
        }
        doc["your_score"] = mine.raw_score
    return doc
