"""The JSON API, ``/api/v1``: bearer tokens (``pedpain users token USERNAME``) carrying
their user's role; the same rules and audit as the pages. OpenAPI schema at
``/api/v1/openapi.json`` and a plain reference page at ``/api/v1/docs`` (signed-in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from pedpain import DISCLAIMER
from pedpain.clinical.age import format_age
from pedpain.core.errors import PedpainError, UsageError
from pedpain.store import collect_stats
from pedpain.web import care, engines
from pedpain.web.accounts import Principal
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
    return care.actor_store(request.app.state.store, principal.actor)


class Enrol(BaseModel):
    code: str = Field(max_length=32)
    age: str = Field(max_length=16, description="like 4y6m")
    sex: str = Field(max_length=1)
    group: str = Field("experimental", max_length=16)
    surgery_type: str | None = Field(None, max_length=16)
    surgery_end: str | None = Field(None, max_length=32)
    surgery_hours: float | None = None
    gestational_age_weeks: float | None = None
    guardian_consent: bool = False
    child_assent: bool | None = None


class Score(BaseModel):
    score: float


@router.get("/me")
def me(request: Request, p: Principal = ANYONE) -> dict[str, Any]:
    return {"username": p.username, "role": p.role, "disclaimer": DISCLAIMER}


@router.get("/children")
def children(request: Request, q: str = "", p: Principal = CARE) -> list[dict[str, Any]]:
    return care.find_children(request.app.state.store, q[:32])


@router.post("/children", status_code=201)
def enrol(request: Request, body: Enrol, p: Principal = NURSE) -> dict[str, Any]:
    form: dict[str, Any] = {k: v for k, v in body.model_dump().items() if v is not None}
    for flag in ("guardian_consent", "child_assent"):
        if flag in form:
            form[flag] = "1" if form[flag] else "0"
    try:
        result = care.enrol_child(_store(request, p), form)
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    return {"code": result.code, "enrolled": result.enrolled, "findings": result.findings}


def _subject(store: Any, code: str) -> Any:
    try:
        return care.get_subject(store, code)
    except care.NotFound:
        raise Refused(404, "not_found", "no such child") from None


@router.get("/children/{code}")
def child(request: Request, code: str, p: Principal = CARE) -> dict[str, Any]:
    store = _store(request, p)
    subject = _subject(store, code)
    store.audit("subject.read", subject_code=code, reason="api timeline")
    scale = care.scale_for(subject)
    return {
        "code": subject.code,
        "age": format_age(subject.age_months),
        "scale": scale.to_dict() if scale else None,
        "timeline": [
            {**pt, "assessed_at": pt["assessed_at"].isoformat()}
            for pt in care.timeline(store, subject)
        ],
        "disclaimer": DISCLAIMER,
    }


@router.post("/children/{code}/assessments", status_code=201)
async def assess(
    request: Request,
    code: str,
    time_point: str = Form(...),
    media: list[UploadFile] = File(...),
    explain: bool = Form(False),
    p: Principal = NURSE,
) -> dict[str, Any]:
    """Store 1-3 photos or one clip as a new session, then assess it (the result is the
    contract's ``pedpain assess --json`` object). ``explain=true`` adds the facial
    measures and the Grad-CAM heat map (slower; also available later from
    ``.../assessments/{session}/explanation``)."""
    from starlette.concurrency import run_in_threadpool

    store = _store(request, p)
    _subject(store, code)
    if len(media) > care.MAX_PHOTOS:
        raise Refused(400, "bad_input", "at most 3 photos or one clip")
    import tempfile

    uploads = [care.Upload(f.filename or "upload", await f.read()) for f in media]
    with tempfile.TemporaryDirectory(prefix="pedpain-up-") as tmp:
        try:
            checked = care.check_uploads(uploads, Path(tmp))
        except PedpainError as exc:
            raise Refused(415, "upload_type", exc.message) from None
    try:
        session_code = care.create_session(store, code, time_point[:32], checked)
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    session = care.get_session(store, code, session_code)
    result = await run_in_threadpool(
        care.run_assessment, store, request.app.state.engines, session, p.username, explain
    )
    return {"session": session_code, "result": result}


def _session(store: Any, code: str, session_code: str) -> Any:
    try:
        return care.get_session(store, code, session_code)
    except care.NotFound:
        raise Refused(404, "not_found", "no such assessment for this child") from None


@router.get("/children/{code}/assessments/{session_code}")
def assessment(
    request: Request, code: str, session_code: str, p: Principal = CARE
) -> dict[str, Any]:
    store = _store(request, p)
    session = _session(store, code, session_code)
    store.audit("session.read", subject_code=code, target=session_code)
    return {
        "session": session.code,
        "time_point": session.time_point,
        "bps": {"scale": session.bps_scale, "score": session.bps_score},
        "result": care.latest_assessment(store, session.id),
    }


@router.get("/children/{code}/assessments/{session_code}/explanation")
async def explanation(
    request: Request, code: str, session_code: str, p: Principal = CARE
) -> dict[str, Any]:
    """The latest score's explanation (facial measures, Grad-CAM heat map as a PNG data
    URL), computed on request by the model that scored it; 409 when there is no score or
    the active model changed since."""
    from starlette.concurrency import run_in_threadpool

    store = _store(request, p)
    session = _session(store, code, session_code)
    try:
        return await run_in_threadpool(
            care.explain_assessment, store, request.app.state.engines, session
        )
    except UsageError as exc:
        raise Refused(409, "no_explanation", exc.message) from None
    except PedpainError as exc:
        raise Refused(503, "engine_unavailable", exc.message) from None


@router.put("/children/{code}/assessments/{session_code}/bps")
def bps(
    request: Request, code: str, session_code: str, body: Score, p: Principal = NURSE
) -> dict[str, Any]:
    store = _store(request, p)
    session = _session(store, code, session_code)
    try:
        care.set_bps(store, session, body.score)
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    return {"session": session_code, "bps": body.score}


@router.get("/rater/queue")
def queue(request: Request, p: Principal = RATER) -> list[dict[str, Any]]:
    return care.rater_queue(request.app.state.store, p.username)


@router.post("/rater/sessions/{session_code}/rating", status_code=201)
def rate(request: Request, session_code: str, body: Score, p: Principal = RATER) -> dict[str, Any]:
    store = _store(request, p)
    try:
        session = care.find_session(store, session_code)
        care.submit_rating(store, session, p.username, body.score)
    except care.NotFound:
        raise Refused(404, "not_found", "no such session") from None
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    return {"session": session_code, "rated": True}


@router.get("/study/stats")
def stats(request: Request, p: Principal = RESEARCHER) -> dict[str, Any]:
    store = _store(request, p)
    doc = collect_stats(store, reason="api stats")
    doc["completeness"] = care.completeness(store)
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
