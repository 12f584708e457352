"""The JSON API, ``/api/v1``: bearer tokens (``pedpain users token USERNAME``) carrying
their user's role; the same rules and audit as the pages. OpenAPI schema at
``/api/v1/openapi.json`` and a plain reference page at ``/api/v1/docs`` (signed-in)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from pedpain import DISCLAIMER
from pedpain.clinical.age import format_age
from pedpain.core.errors import PedpainError
from pedpain.store import collect_stats
from pedpain.study import blinding, corrections, dashboard, enrolment, intake, ratings, sessions
from pedpain.study.accounts import Principal
from pedpain.study.protocol import StudyRules
from pedpain.web import engines
from pedpain.web.pages import refusal
from pedpain.web.security import Refused, principal_of

router = APIRouter(prefix="/api/v1", tags=["v1"])


def caller(request: Request, *roles: str) -> Principal:
    principal = principal_of(request, api=True)
    if principal is None:
        raise Refused(401, "no_token", "send Authorization: Bearer <token>")
    request.state.principal = principal
    if roles and principal.role not in roles:
        raise Refused(403, "forbidden_role", "your role does not allow this")
    return principal


def role(*roles: str) -> Any:
    """A dependency: authentication and the role check run before the body is validated."""

    def check(request: Request) -> Principal:
        return caller(request, *roles)

    return Depends(check)


ANYONE, NURSE, RATER = role(), role("nurse"), role("rater")
CARE, RESEARCHER = role("nurse", "researcher"), role("researcher")


def _store(request: Request, principal: Principal) -> Any:
    return sessions.actor_store(request.app.state.store, principal.actor)


def _rules(request: Request) -> StudyRules:
    return StudyRules.from_settings(request.app.state.settings)


class Enrol(BaseModel):
    code: str = Field(max_length=200, description="pseudonymous code (the study rule checks it)")
    age: str = Field(max_length=16, description="like 4y6m")
    sex: str = Field(max_length=1)
    group: str = Field("experimental", max_length=16)
    surgery_type: str | None = Field(None, max_length=16)
    surgery_end: str | None = Field(None, max_length=32)
    surgery_hours: float | str | None = None
    gestational_age_weeks: float | str | None = None
    guardian_consent: bool = False
    child_assent: bool | None = None


class Score(BaseModel):
    # Any JSON value: the study's rule decides what a score is (true and "7" are not).
    score: Any = Field(description="a number on the child's scale, on its granularity")


class Reasoned(BaseModel):
    reason: str = Field(max_length=2000)


class ReasonedScore(Score):
    reason: str = Field(max_length=2000)


class Move(Reasoned):
    to: str = Field(max_length=32, description="the right child's code")


class Correct(Reasoned):
    field: str = Field(max_length=64)
    value: Any


@router.get("/me")
def me(request: Request, p: Principal = ANYONE) -> dict[str, Any]:
    return {"username": p.username, "role": p.role, "disclaimer": DISCLAIMER}


@router.get("/children")
def children(request: Request, q: str = "", p: Principal = CARE) -> list[dict[str, Any]]:
    return enrolment.find_children(request.app.state.store, q[:32])


@router.post("/children", status_code=201)
def enrol(request: Request, body: Enrol, p: Principal = NURSE) -> dict[str, Any]:
    form: dict[str, Any] = {k: v for k, v in body.model_dump().items() if v is not None}
    for flag in ("guardian_consent", "child_assent"):
        if flag in form:
            form[flag] = "1" if form[flag] else "0"
    try:
        result = enrolment.enrol_child(_store(request, p), form)
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"code": result.code, "enrolled": result.enrolled, "findings": result.findings}


def _subject(store: Any, code: str) -> Any:
    try:
        return enrolment.get_subject(store, code)
    except PedpainError as exc:
        raise refusal(exc) from None


@router.get("/children/{code}")
def child(request: Request, code: str, p: Principal = CARE) -> dict[str, Any]:
    store = _store(request, p)
    subject = _subject(store, code)
    store.audit("subject.read", subject_code=code, reason="api timeline")
    scale = enrolment.scale_for(subject)
    doc = {
        "code": subject.code,
        "age": format_age(subject.age_months),
        "scale": scale.to_dict() if scale else None,
        "timeline": [
            {**pt, "assessed_at": pt["assessed_at"].isoformat()}
            for pt in blinding.timeline(store, subject, p.role, _rules(request))
        ],
        "disclaimer": DISCLAIMER,
    }
    if p.role == "researcher":
        doc["corrections"] = corrections.list_corrections(store, code)
    return doc


@router.patch("/children/{code}")
def correct_child(
    request: Request, code: str, body: Correct, p: Principal = RESEARCHER
) -> dict[str, Any]:
    """Correct one enrolment field (old value, new value, who, when, why are kept)."""
    store = _store(request, p)
    _subject(store, code)
    try:
        return corrections.correct_subject(store, code, body.field, body.value, body.reason)
    except PedpainError as exc:
        raise refusal(exc) from None


@router.post("/children/{code}/assessments", status_code=201)
async def assess(
    request: Request,
    code: str,
    time_point: str = Form(...),
    media: list[UploadFile] = File(...),
    hours: str = Form(""),
    p: Principal = NURSE,
) -> dict[str, Any]:
    """Store 1-3 photos or one clip as a new session, then assess it (the result is the
    contract's ``pedpain assess --json`` object). In the validation phase the result is
    withheld (``result: null``, ``ai_hidden`` says why) until the BPS is entered."""
    from starlette.concurrency import run_in_threadpool

    store = _store(request, p)
    _subject(store, code)
    if len(media) > intake.MAX_PHOTOS:
        raise Refused(400, "bad_input", "at most 3 photos or one clip")
    uploads = [intake.Upload(f.filename or "upload", await f.read()) for f in media]
    try:
        checked = await run_in_threadpool(
            intake.check_uploads, uploads, request.app.state.config.max_upload_bytes
        )
        session_code = sessions.create_session(store, code, time_point[:32], checked, hours)
    except PedpainError as exc:
        raise refusal(exc) from None
    session = sessions.get_session(store, code, session_code)
    result = await run_in_threadpool(
        sessions.run_assessment, store, request.app.state.engines, session, p.username
    )
    rules = _rules(request)
    visible = blinding.ai_visible(p.role, session, rules)
    return {
        "session": session_code,
        "result": result if visible else None,
        "ai_hidden": None if visible else blinding.AI_HIDDEN,
    }


def _session(store: Any, code: str, session_code: str) -> Any:
    try:
        return sessions.get_session(store, code, session_code)
    except PedpainError as exc:
        raise refusal(exc) from None


@router.get("/children/{code}/assessments/{session_code}")
def assessment(
    request: Request, code: str, session_code: str, p: Principal = CARE
) -> dict[str, Any]:
    store = _store(request, p)
    session = _session(store, code, session_code)
    store.audit("session.read", subject_code=code, target=session_code)
    return blinding.session_view(store, session, p.role, _rules(request))


@router.put("/children/{code}/assessments/{session_code}/bps")
def bps(
    request: Request, code: str, session_code: str, body: Score, p: Principal = NURSE
) -> dict[str, Any]:
    store = _store(request, p)
    session = _session(store, code, session_code)
    try:
        blind = sessions.set_bps(store, session, body.score, _rules(request))
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"session": session_code, "bps": body.score, "blind_to_ai": blind}


@router.get("/rater/queue")
def queue(request: Request, p: Principal = RATER) -> list[dict[str, Any]]:
    return ratings.rater_queue(request.app.state.store, p.username)


def _live_session(store: Any, session_code: str) -> Any:
    try:
        session = sessions.find_session(store, session_code)
    except PedpainError as exc:
        raise refusal(exc) from None
    if session.voided_at is not None:
        raise Refused(404, "not_found", "no such session")
    return session


@router.get("/rater/sessions/{session_code}")
def rater_session(request: Request, session_code: str, p: Principal = RATER) -> dict[str, Any]:
    """The session as this rater may see it: blind until their own score is in."""
    store = _store(request, p)
    session = _live_session(store, session_code)
    store.audit("session.read", subject_code=session.subject.code, target=session_code)
    return blinding.rater_view(store, session, p.username, _rules(request))


@router.post("/rater/sessions/{session_code}/rating", status_code=201)
def rate(request: Request, session_code: str, body: Score, p: Principal = RATER) -> dict[str, Any]:
    store = _store(request, p)
    session = _live_session(store, session_code)
    try:
        ratings.submit_rating(store, session, p.username, body.score)
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"session": session_code, "rated": True}


@router.put("/rater/sessions/{session_code}/rating")
def amend(
    request: Request, session_code: str, body: ReasonedScore, p: Principal = RATER
) -> dict[str, Any]:
    """Correct your own rating while the session's set is incomplete (with a reason)."""
    store = _store(request, p)
    session = _live_session(store, session_code)
    try:
        ratings.amend_rating(store, session, p.username, body.score, body.reason)
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"session": session_code, "amended": True}


def _research_session(store: Any, session_code: str) -> Any:
    try:
        return sessions.find_session(store, session_code)
    except PedpainError as exc:
        raise refusal(exc) from None


@router.get("/study/sessions/{session_code}")
def review(request: Request, session_code: str, p: Principal = RESEARCHER) -> dict[str, Any]:
    store = _store(request, p)
    session = _research_session(store, session_code)
    store.audit("session.read", subject_code=session.subject.code, target=session_code)
    doc = blinding.session_view(store, session, p.role, _rules(request))
    doc["subject"] = session.subject.code
    doc["ratings"] = [
        {
            "rater": r.rater,
            "score": r.raw_score,
            "scale": r.scale,
            "adjudication": r.adjudication,
            "reason": r.adjudication_reason,
        }
        for r in session.ratings
    ]
    return doc


@router.post("/study/sessions/{session_code}/adjudication", status_code=201)
def adjudicate(
    request: Request, session_code: str, body: ReasonedScore, p: Principal = RESEARCHER
) -> dict[str, Any]:
    store = _store(request, p)
    session = _research_session(store, session_code)
    try:
        ratings.adjudicate(store, session, p.username, body.score, body.reason)
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"session": session_code, "adjudicated": True}


@router.post("/study/sessions/{session_code}/void")
def void(
    request: Request, session_code: str, body: Reasoned, p: Principal = RESEARCHER
) -> dict[str, Any]:
    store = _store(request, p)
    try:
        corrections.void_session(store, session_code, body.reason)
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"session": session_code, "voided": True}


@router.post("/study/sessions/{session_code}/move")
def move(
    request: Request, session_code: str, body: Move, p: Principal = RESEARCHER
) -> dict[str, Any]:
    store = _store(request, p)
    try:
        corrections.move_session(store, session_code, body.to, body.reason)
    except PedpainError as exc:
        raise refusal(exc) from None
    return {"session": session_code, "subject": body.to}


@router.get("/study/corrections")
def correction_list(
    request: Request, subject: str = "", p: Principal = RESEARCHER
) -> list[dict[str, Any]]:
    return corrections.list_corrections(_store(request, p), subject[:32] or None)


@router.get("/study/stats")
def stats(request: Request, p: Principal = RESEARCHER) -> dict[str, Any]:
    store = _store(request, p)
    doc = collect_stats(store, reason="api stats")
    doc["completeness"] = dashboard.completeness(store)
    doc["deviations"] = dashboard.deviations(store)
    doc["voided"] = dashboard.voided(store)
    return doc


@router.get("/study/models")
def models(request: Request, p: Principal = RESEARCHER) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in m.items() if k != "card"}
        for m in engines.list_models(request.app.state.settings)
    ]


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> dict[str, Any]:
    caller(request)
    return request.app.openapi()


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    caller(request)
    from markupsafe import escape

    schema = request.app.openapi()
    rows = "".join(
        f"<tr><td>{escape(method.upper())}</td><td><code>{escape(path)}</code></td>"
        f"<td>{escape(op.get('summary', ''))}</td></tr>"
        for path, ops in schema.get("paths", {}).items()
        for method, op in ops.items()
    )
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>pedpain API v1"
        "</title><link rel='stylesheet' href='/static/app.css'></head><body><main>"
        f"<p class='disclaimer'>{escape(DISCLAIMER)}</p><h1>pedpain API v1</h1>"
        "<p>Send <code>Authorization: Bearer TOKEN</code> (make one with "
        "<code>pedpain users token USERNAME</code>). Schema: "
        "<code>/api/v1/openapi.json</code>.</p>"
        f"<table><tr><th>method</th><th>path</th><th>summary</th></tr>{rows}</table>"
        "</main></body></html>"
    )
