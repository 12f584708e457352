"""Server-rendered pages for nurses, raters, researchers and admins.

Every route asks :func:`who` first (sign-in and role), every POST checks the form's CSRF
token, and objects are looked up through their parent in the URL (a session is found
only under its own child), so a guessed id is a 404, audited like any refusal.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from pedpain.clinical.age import format_age
from pedpain.clinical.eligibility import EXCLUSION_FACTS, GROUPS, SURGERY_TYPES, TIME_POINTS
from pedpain.core.errors import PedpainError
from pedpain.models.bundle import read_model_meta
from pedpain.store import collect_stats, export_manifest
from pedpain.store.accounts import ROLES
from pedpain.study import (
    accounts,
    blinding,
    cohort,
    corrections,
    dashboard,
    enrolment,
    intake,
    promotion,
    ratings,
    sessions,
    withdrawal,
)
from pedpain.study.accounts import Principal
from pedpain.study.errors import http_of
from pedpain.study.protocol import StudyRules, is_subject_code
from pedpain.web import engines
from pedpain.web.charts import bars_svg, bland_altman_svg, timeline_svg
from pedpain.web.gate import safe_next
from pedpain.web.security import (
    LOGIN_COOKIE,
    Refused,
    check_csrf,
    check_login_token,
    client_of,
    cookie_args,
    login_token,
    new_login_nonce,
    principal_of,
)

router = APIRouter(include_in_schema=False)
LOGIN_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
HOME_OF = {"nurse": "/children", "rater": "/rate", "researcher": "/study", "admin": "/admin/users"}
MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heif": "image/heif",
    "webm": "video/webm",
    "mp4": "video/mp4",
    "avi": "video/x-msvideo",
}


def refusal(exc: PedpainError) -> Refused:
    """A study rule's refusal as the HTTP answer it carries (404, 409, 413, 415, 400)."""
    status, code = http_of(exc)
    return Refused(status, code, exc.message)


def rules_of(request: Request) -> StudyRules:
    return StudyRules.from_settings(request.app.state.settings)


def who(request: Request, *roles: str) -> Principal:
    principal = principal_of(request, api=False)
    if principal is None:
        raise Refused(401, "no_session", "please sign in")
    request.state.principal = principal
    if roles and principal.role not in roles:
        raise Refused(403, "forbidden_role", "your role does not allow this page")
    return principal


def store_of(request: Request, principal: Principal | None = None) -> Any:
    store = request.app.state.store
    return sessions.actor_store(store, principal.actor) if principal else store


def render(
    request: Request, name: str, principal: Principal | None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(
        request, name, {"principal": principal, **ctx}, status_code=status
    )


async def read_form(request: Request, principal: Principal, max_files: int = 0) -> FormData:
    form = await request.form(max_files=max_files, max_fields=60, max_part_size=64 * 1024)
    token = form.get("csrf_token")
    check_csrf(principal, token if isinstance(token, str) else None)
    return form


def text(form: FormData, name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def subject_or_404(store: Any, code: str) -> Any:
    try:
        return enrolment.get_subject(store, code)
    except PedpainError as exc:
        raise refusal(exc) from None


def session_or_404(store: Any, code: str, session_code: str) -> Any:
    try:
        return sessions.get_session(store, code, session_code)
    except PedpainError as exc:
        raise refusal(exc) from None


# ----------------------------------------------------------------------------- sign-in
@router.get("/login")
def login_page(request: Request, error: str = "", next: str = "") -> Response:
    # Keep the nonce of a sign-in form already open (another tab, a reload): a new one
    # would make that form fail with "expired".
    kept = request.cookies.get(LOGIN_COOKIE, "")
    nonce = kept if LOGIN_NONCE.fullmatch(kept) else new_login_nonce()
    response = render(
        request,
        "login.html",
        None,
        csrf=login_token(request.app.state.login_secret, nonce),
        error=error[:200],
        next=safe_next(next) or "",
    )
    response.set_cookie(LOGIN_COOKIE, nonce, **cookie_args(request.app.state.config, 3600))
    return response


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    check_login_token(
        request.app.state.login_secret, request.cookies.get(LOGIN_COOKIE), text(form, "csrf_token")
    )
    config = request.app.state.config
    outcome = accounts.login(
        request.app.state.store,
        text(form, "username", 64),
        text(form, "password", 1024),
        client_of(request),
        backoff_s=config.login_backoff_s,
    )
    if outcome.retry_after_s:
        raise Refused(
            429,
            "throttled",
            f"too many failed sign-ins: try again in {outcome.retry_after_s} s",
            retry_after=outcome.retry_after_s,
        )
    if not outcome.ok or outcome.principal is None:
        nonce = new_login_nonce()
        response = render(
            request,
            "login.html",
            None,
            status=401,
            csrf=login_token(request.app.state.login_secret, nonce),
            error="wrong user name or password",
            next=safe_next(text(form, "next", 500)) or "",
        )
        response.set_cookie(LOGIN_COOKIE, nonce, **cookie_args(config, 3600))
        return response
    # Back to the page the caller was sent away from (e.g. after an idle sign-out).
    done = see_other(safe_next(text(form, "next", 500)) or HOME_OF[outcome.principal.role])
    done.set_cookie(config.session_cookie, outcome.session_token, **cookie_args(config))
    done.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    return done


@router.post("/logout")
async def logout(request: Request) -> Response:
    principal = who(request)
    await read_form(request, principal)
    config = request.app.state.config
    accounts.logout(request.app.state.store, request.cookies.get(config.session_cookie, ""))
    store_of(request, principal).audit("web.logout", target=principal.username)
    response = see_other("/login")
    response.delete_cookie(config.session_cookie, path="/", secure=config.secure_cookies)
    return response


@router.get("/")
def home(request: Request) -> Response:
    principal = who(request)
    return see_other(HOME_OF[principal.role])


# ----------------------------------------------------------------------------- nurse
@router.get("/children")
def children(request: Request, q: str = "") -> Response:
    principal = who(request, "nurse", "researcher")
    found = enrolment.find_children(store_of(request), q[:32])
    return render(request, "children.html", principal, q=q[:32], children=found)


@router.get("/children/new")
def enrol_page(request: Request) -> Response:
    principal = who(request, "nurse")
    return render(request, "enrol.html", principal, **_enrol_ctx())


def _enrol_ctx(**extra: Any) -> dict[str, Any]:
    return {
        "groups": GROUPS,
        "surgery_types": SURGERY_TYPES,
        "exclusions": {k: v[1] for k, v in EXCLUSION_FACTS.items()},
        "form": {},
        **extra,
    }


@router.post("/children/new")
async def enrol_submit(request: Request) -> Response:
    principal = who(request, "nurse")
    form = await read_form(request, principal)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    try:
        result = enrolment.enrol_child(store_of(request, principal), values)
    except PedpainError as exc:
        return render(
            request,
            "enrol.html",
            principal,
            http_of(exc)[0],
            **_enrol_ctx(error=exc.message, form=values),
        )
    if not result.enrolled:
        return render(request, "enrol.html", principal, 200, **_enrol_ctx(rejected=result, form={}))
    return see_other(f"/children/{result.code}")


@router.get("/children/{code}")
def child_page(request: Request, code: str) -> Response:
    principal = who(request, "nurse", "researcher")
    store = store_of(request, principal)
    subject = subject_or_404(store, code)
    points = blinding.timeline(store, subject, principal.role, rules_of(request))
    scale = enrolment.scale_for(subject)
    store.audit("subject.read", subject_code=code, reason="web timeline")
    return render(
        request,
        "child.html",
        principal,
        subject=subject,
        age=format_age(subject.age_months),
        scale=scale,
        points=points,
        chart=timeline_svg(points, scale.threshold_normalised if scale else None),
        time_points=TIME_POINTS,
        corrections=corrections.list_corrections(store, code)
        if principal.role == "researcher"
        else [],
        fields=corrections.CORRECTABLE_FIELDS,
    )


@router.post("/children/{code}/assessments")
async def new_assessment(request: Request, code: str) -> Response:
    principal = who(request, "nurse")
    store = store_of(request, principal)
    subject_or_404(store, code)
    form = await read_form(request, principal, max_files=intake.MAX_PHOTOS + 1)
    uploads = [
        intake.Upload(f.filename or "upload", await f.read())
        for f in form.getlist("media")
        if isinstance(f, UploadFile)
    ]
    session_code = await _store_and_assess(
        request, principal, code, text(form, "time_point", 32), uploads, text(form, "hours", 16)
    )
    return see_other(f"/children/{code}/sessions/{session_code}")


async def _store_and_assess(
    request: Request,
    principal: Principal,
    code: str,
    time_point: str,
    uploads: list[intake.Upload],
    hours: str = "",
) -> str:
    """Check the uploads (decoded in full, off the event loop), store the session and
    media, then assess."""
    store = store_of(request, principal)
    limit = request.app.state.config.max_upload_bytes
    try:
        media = await run_in_threadpool(intake.check_uploads, uploads, limit)
        session_code = sessions.create_session(store, code, time_point, media, hours)
    except PedpainError as exc:
        raise refusal(exc) from None
    session = sessions.get_session(store, code, session_code)
    await run_in_threadpool(
        sessions.run_assessment, store, request.app.state.engines, session, principal.username
    )
    return session_code


@router.get("/children/{code}/sessions/{session_code}")
def session_page(request: Request, code: str, session_code: str) -> Response:
    principal = who(request, "nurse", "researcher")
    store = store_of(request, principal)
    session = session_or_404(store, code, session_code)
    rules = rules_of(request)
    result = blinding.ai_result(store, session, principal.role, rules)
    store.audit("session.read", subject_code=code, target=session_code)
    return render(
        request,
        "session.html",
        principal,
        subject=session.subject,
        session=session,
        result=result,
        ai_hidden=result is None and sessions.has_assessment(store, session.id),
        validation_phase=rules.validation_phase,
        scale=enrolment.scale_for(session.subject),
    )


@router.get("/children/{code}/sessions/{session_code}/explanation")
async def explanation_page(request: Request, code: str, session_code: str) -> Response:
    """The session page with the explanation, computed when the nurse opens it (the
    assessment itself skips it: Grad-CAM costs more than the score)."""
    from starlette.concurrency import run_in_threadpool

    principal = who(request, "nurse", "researcher")
    store = store_of(request, principal)
    session = session_or_404(store, code, session_code)
    rules = rules_of(request)
    result = blinding.ai_result(store, session, principal.role, rules)
    if result is None:  # no score yet, or withheld until the BPS is in
        return see_other(f"/children/{code}/sessions/{session_code}")
    try:
        extra = await run_in_threadpool(
            sessions.explain_assessment, store, request.app.state.engines, session
        )
    except PedpainError as exc:
        raise refusal(exc) from None
    result["explanation"] = {**result.get("explanation", {}), **extra["explanation"]}
    return render(
        request,
        "session.html",
        principal,
        subject=session.subject,
        session=session,
        result=result,
        ai_hidden=False,
        validation_phase=rules.validation_phase,
        scale=enrolment.scale_for(session.subject),
    )


@router.post("/children/{code}/sessions/{session_code}/bps")
async def bps_submit(request: Request, code: str, session_code: str) -> Response:
    principal = who(request, "nurse")
    store = store_of(request, principal)
    session = session_or_404(store, code, session_code)
    form = await read_form(request, principal)
    try:
        sessions.set_bps(store, session, text(form, "score", 16), rules_of(request), text=True)
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other(f"/children/{code}/sessions/{session_code}")


@router.post("/children/{code}/sessions/{session_code}/retry")
async def retry(request: Request, code: str, session_code: str) -> Response:
    principal = who(request, "nurse")
    store = store_of(request, principal)
    session = session_or_404(store, code, session_code)
    await read_form(request, principal)
    try:
        await run_in_threadpool(
            sessions.run_assessment, store, request.app.state.engines, session, principal.username
        )
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other(f"/children/{code}/sessions/{session_code}")


@router.get("/children/{code}/sessions/{session_code}/media/{slot}")
def session_media(request: Request, code: str, session_code: str, slot: str) -> Response:
    principal = who(request, "nurse", "researcher")
    store = store_of(request, principal)
    session = session_or_404(store, code, session_code)
    return _media_response(store, session, slot)


def _media_response(store: Any, session: Any, slot: str) -> Response:
    try:
        _kind, data = sessions.read_media(store, session, slot)
    except PedpainError as exc:
        raise refusal(exc) from None
    kind = MEDIA_TYPES.get(slot.rsplit(".", 1)[-1], "application/octet-stream")
    return Response(
        data,
        media_type=kind,
        headers={"Content-Disposition": "inline", "Cache-Control": "no-store, private"},
    )


# ----------------------------------------------------------------------------- rater
@router.get("/rate")
def rate_queue(request: Request) -> Response:
    principal = who(request, "rater")
    queue = ratings.rater_queue(store_of(request), principal.username)
    return render(request, "rate_queue.html", principal, queue=queue)


def _rater_session(request: Request, principal: Principal, session_code: str) -> Any:
    store = store_of(request, principal)
    try:
        session = sessions.find_session(store, session_code)
    except PedpainError as exc:
        raise refusal(exc) from None
    if session.voided_at is not None:
        raise Refused(404, "not_found", "no such session")
    return store, session


@router.get("/rate/{session_code}")
def rate_page(request: Request, session_code: str) -> Response:
    principal = who(request, "rater")
    store, session = _rater_session(request, principal, session_code)
    view = blinding.rater_view(store, session, principal.username, rules_of(request))
    ctx: dict[str, Any] = {
        "session": session,
        "view": view,
        "done": view["done"],
        "scale": enrolment.scale_for(session.subject),
        "age": view["age"],
    }
    store.audit("session.read", subject_code=session.subject.code, target=session_code)
    return render(request, "rate_session.html", principal, **ctx)


@router.get("/rate/{session_code}/media/{slot}")
def rate_media(request: Request, session_code: str, slot: str) -> Response:
    principal = who(request, "rater")
    store, session = _rater_session(request, principal, session_code)
    return _media_response(store, session, slot)


@router.post("/rate/{session_code}")
async def rate_submit(request: Request, session_code: str) -> Response:
    principal = who(request, "rater")
    store, session = _rater_session(request, principal, session_code)
    form = await read_form(request, principal)
    try:
        ratings.submit_rating(
            store, session, principal.username, text(form, "score", 16), text=True
        )
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other(f"/rate/{session_code}")


@router.post("/rate/{session_code}/amend")
async def rate_amend(request: Request, session_code: str) -> Response:
    principal = who(request, "rater")
    store, session = _rater_session(request, principal, session_code)
    form = await read_form(request, principal)
    try:
        ratings.amend_rating(
            store,
            session,
            principal.username,
            text(form, "score", 16),
            text(form, "reason"),
            text=True,
        )
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other(f"/rate/{session_code}")


# ----------------------------------------------------------------------------- researcher
@router.get("/study")
def study(request: Request) -> Response:
    principal = who(request, "researcher")
    store = store_of(request, principal)
    stats = collect_stats(store, reason="web dashboard")
    rows = dashboard.completeness(store)
    subjects = stats["subjects"]
    live = cohort.dashboard(store, request.app.state.settings)
    agreement = live.get("bland_altman") or {}
    return render(
        request,
        "study.html",
        principal,
        cohort=live,
        ba_consensus=bland_altman_svg(
            "AI vs raters' consensus",
            agreement["consensus"]["points"],
            agreement["consensus"],
            "ba-consensus",
        )
        if agreement
        else None,
        ba_bps=bland_altman_svg(
            "AI vs nurse's BPS", agreement["bps"]["points"], agreement["bps"], "ba-bps"
        )
        if agreement
        else None,
        stats=stats,
        consent=dashboard.consent_status(store),
        completeness=rows,
        rejections=enrolment.screening_log(store),
        deviations=dashboard.deviations(store),
        voided=dashboard.voided(store),
        validation_phase=rules_of(request).validation_phase,
        enrol_chart=bars_svg("Children enrolled by group", sorted(subjects["by_group"].items())),
        age_chart=bars_svg("Children by age band", list(subjects["by_age_band"].items())),
        tp_chart=bars_svg(
            "Sessions with 3 ratings per time point",
            [(r["time_point"], r["rated_3"]) for r in rows],
        ),
    )


def _exports_root(request: Request) -> Path:
    return Path(request.app.state.settings.home).resolve() / "exports"


def _list_exports(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir(), reverse=True):
        if folder.is_dir() and (folder / "export.json").is_file():
            files = sorted(p.name for p in folder.iterdir() if p.is_file())
            out.append({"id": folder.name, "files": files})
    return out


@router.get("/study/exports")
def exports_page(request: Request) -> Response:
    principal = who(request, "researcher")
    return render(request, "exports.html", principal, exports=_list_exports(_exports_root(request)))


@router.post("/study/exports")
async def exports_make(request: Request) -> Response:
    principal = who(request, "researcher")
    form = await read_form(request, principal)
    out = _exports_root(request) / datetime.now().strftime("export-%Y%m%d-%H%M%S")
    await run_in_threadpool(
        lambda: export_manifest(
            store_of(request, principal),
            out,
            reason="web export",
            include_deviations=text(form, "include_deviations", 4) == "1",
        )
    )
    return see_other("/study/exports")


@router.get("/study/exports/{export_id}/{name}")
def exports_file(request: Request, export_id: str, name: str) -> Response:
    principal = who(request, "researcher")
    listing = {e["id"]: e["files"] for e in _list_exports(_exports_root(request))}
    # Only names the listing shows: no path from the URL ever reaches the file system.
    if export_id not in listing or name not in listing[export_id]:
        raise Refused(404, "not_found", "no such export file")
    store_of(request, principal).audit("export.download", target=f"{export_id}/{name}")
    return FileResponse(
        _exports_root(request) / export_id / name,
        filename=name,
        headers={"Cache-Control": "no-store"},
    )


def _list_reports(home: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in ("reports", "runs"):
        root = home / base
        if not root.is_dir():
            continue
        for path in sorted(root.glob("**/report.html"))[:200]:
            if not path.is_symlink():
                found[str(path.parent.relative_to(home)).replace("/", "~")] = path
    return found


@router.get("/study/reports")
def reports_page(request: Request) -> Response:
    principal = who(request, "researcher")
    home = Path(request.app.state.settings.home).resolve()
    return render(request, "reports.html", principal, reports=sorted(_list_reports(home)))


@router.get("/study/reports/{report_id}")
def report_file(request: Request, report_id: str) -> Response:
    principal = who(request, "researcher")
    reports = _list_reports(Path(request.app.state.settings.home).resolve())
    if report_id not in reports:
        raise Refused(404, "not_found", "no such report")
    store_of(request, principal).audit("report.read", target=report_id)
    response = FileResponse(reports[report_id], media_type="text/html")
    # A report is a document, not part of the app: no scripts, no forms.
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    )
    return response


@router.post("/study/cohort/report")
async def cohort_report(request: Request) -> Response:
    """The full cohort validation (every model, consensus reference) into the reports."""
    principal = who(request, "researcher")
    await read_form(request, principal)
    settings = request.app.state.settings
    out = (
        Path(settings.home).resolve() / "reports" / datetime.now().strftime("cohort-%Y%m%d-%H%M%S")
    )
    options = cohort.CohortOptions(model="all")
    try:
        await run_in_threadpool(
            cohort.validate_cohort, store_of(request, principal), settings, out, options
        )
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    return see_other("/study/reports")


@router.get("/study/models")
def models_page(request: Request) -> Response:
    principal = who(request, "researcher")
    settings = request.app.state.settings
    return render(
        request,
        "models.html",
        principal,
        models=engines.list_models(settings),
        fixed=settings.model is not None,
        comparisons=promotion.list_comparisons(settings),
        exports=[e["id"] for e in _list_exports(_exports_root(request))],
    )


@router.post("/study/models/compare")
async def models_compare(request: Request) -> Response:
    principal = who(request, "researcher")
    form = await read_form(request, principal)
    settings = request.app.state.settings
    challenger = text(form, "challenger", 200)
    on = text(form, "on", 200) or "cohort"
    if on != "cohort":
        exports = {e["id"] for e in _list_exports(_exports_root(request))}
        if on not in exports:  # only listed exports: no path from the form reaches the disk
            raise Refused(400, "bad_input", "no such export")
        on = str(_exports_root(request) / on)
    out = (
        Path(settings.home).resolve()
        / promotion.COMPARISONS_DIR
        / datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    try:
        doc = await run_in_threadpool(
            promotion.compare_models, settings, "active", challenger, out,
            store=store_of(request, principal), on=on,
            exclude_overlap=text(form, "exclude_overlap") == "1",
        )  # fmt: skip
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    return see_other(f"/study/models/compare/{doc['id']}")


@router.get("/study/models/compare/{comparison_id}")
def comparison_page(request: Request, comparison_id: str) -> Response:
    principal = who(request, "researcher")
    settings = request.app.state.settings
    found = [c for c in promotion.list_comparisons(settings) if c["id"] == comparison_id]
    if not found:
        raise Refused(404, "not_found", "no such comparison")
    doc = found[0]
    active = engines.active_folder(settings)
    active_sha = read_model_meta(active).get("sha256") if active else None
    return render(
        request,
        "comparison.html",
        principal,
        doc=doc,
        lines=promotion.comparison_lines(doc),
        challenger_id=Path(doc["challenger"]["folder"]).name,
        current=active_sha == doc["champion"]["sha256"],
        fixed=settings.model is not None,
    )


@router.post("/study/models/active")
async def models_activate(request: Request) -> Response:
    principal = who(request, "researcher")
    form = await read_form(request, principal)
    settings = request.app.state.settings
    model_id = text(form, "model", 200)
    comparison_id = text(form, "comparison", 64)
    try:
        folder = promotion.comparison_folder(settings, comparison_id) if comparison_id else None
        promotion.promote(
            store_of(request, principal), settings, model_id, folder,
            override_reason=text(form, "reason") or None,
        )  # fmt: skip
    except PedpainError as exc:
        raise Refused(400, "bad_input", exc.message) from None
    return see_other("/study/models")


@router.get("/study/withdraw")
def withdraw_page(request: Request) -> Response:
    principal = who(request, "researcher")
    return render(request, "withdraw.html", principal)


@router.post("/study/withdraw")
async def withdraw_submit(request: Request) -> Response:
    principal = who(request, "researcher")
    form = await read_form(request, principal)
    code, confirm, reason = text(form, "code", 64), text(form, "confirm", 64), text(form, "reason")
    store = store_of(request, principal)
    # Typing the code twice is the page's guard against a slip; the rules are the study's.
    if not is_subject_code(code) or code != confirm:
        return render(
            request, "withdraw.html", principal, 400, error="type the child's code twice, exactly"
        )
    try:
        report = await run_in_threadpool(
            lambda: withdrawal.withdraw(store, code, reason, source="web")
        )
    except PedpainError as exc:
        return render(request, "withdraw.html", principal, 400, error=exc.message)
    return render(request, "withdraw.html", principal, report=report.to_dict())


# ----------------------------------------------------------------------------- admin
@router.get("/admin/users")
def users_page(request: Request) -> Response:
    principal = who(request, "admin")
    store = store_of(request)
    return render(
        request,
        "users.html",
        principal,
        users=accounts.list_users(store),
        roles=ROLES,
        tokens=accounts.list_tokens(store),
    )


@router.post("/admin/users")
async def users_create(request: Request) -> Response:
    principal = who(request, "admin")
    form = await read_form(request, principal)
    store = store_of(request, principal)
    try:
        accounts.create_user(
            store,
            text(form, "username", 64),
            text(form, "role", 16),
            text(form, "password", 1024),
            actor=principal.actor,
        )
    except PedpainError as exc:
        return render(
            request,
            "users.html",
            principal,
            400,
            users=accounts.list_users(store),
            roles=ROLES,
            tokens=accounts.list_tokens(store),
            error=exc.message,
        )
    return see_other("/admin/users")


@router.post("/admin/users/{username}")
async def users_update(request: Request, username: str) -> Response:
    principal = who(request, "admin")
    form = await read_form(request, principal)
    store = store_of(request, principal)
    role = text(form, "role", 16) or None
    active = {"1": True, "0": False}.get(text(form, "active", 1))
    password = text(form, "password", 1024) or None
    try:
        accounts.update_user(
            store,
            username,
            actor=principal.actor,
            role=role,
            active=active,
            password=password,
            acting_user=principal.username,
        )
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other("/admin/users")


@router.post("/admin/tokens/{token_id}/revoke")
async def token_revoke(request: Request, token_id: str) -> Response:
    # The id is parsed after the caller is known: anonymous callers learn nothing.
    principal = who(request, "admin")
    form = await read_form(request, principal)
    if not token_id.isdigit() or len(token_id) > 12:
        raise Refused(404, "not_found", f"no API token with id {token_id[:20]}")
    try:
        accounts.revoke_token(
            store_of(request, principal),
            int(token_id),
            actor=principal.actor,
            reason=text(form, "reason", 500),
        )
    except accounts.AlreadyRevoked as exc:
        raise Refused(409, "conflict", exc.message) from None
    except accounts.NoSuchToken as exc:
        raise Refused(404, "not_found", exc.message) from None
    return see_other("/admin/users")


@router.get("/admin/audit")
def audit_page(
    request: Request, action: str = "", actor: str = "", subject: str = "", page: int = 1
) -> Response:
    principal = who(request, "admin")
    page = max(1, min(page, 10_000))
    rows, more = dashboard.audit_entries(
        request.app.state.store, action=action, actor=actor, subject=subject, page=page
    )
    return render(
        request,
        "audit.html",
        principal,
        rows=rows,
        more=more,
        page=page,
        filters={"action": action[:64], "actor": actor[:100], "subject": subject[:32]},
    )


# ----------------------------------------------------------------------------- corrections
def _research_session(request: Request, principal: Principal, session_code: str) -> Any:
    store = store_of(request, principal)
    try:
        return store, sessions.find_session(store, session_code)
    except PedpainError as exc:
        raise refusal(exc) from None


@router.get("/study/sessions/{session_code}")
def review_page(request: Request, session_code: str) -> Response:
    principal = who(request, "researcher")
    store, session = _research_session(request, principal, session_code)
    store.audit("session.read", subject_code=session.subject.code, target=session_code)
    return render(
        request,
        "review.html",
        principal,
        session=session,
        view=blinding.session_view(store, session, "researcher", rules_of(request)),
        ratings=sorted(session.ratings, key=lambda r: (r.adjudication, r.id)),
        corrections=corrections.list_corrections(store, session.subject.code),
        age=format_age(session.subject.age_months),
    )


@router.post("/study/sessions/{session_code}/{action}")
async def review_submit(request: Request, session_code: str, action: str) -> Response:
    principal = who(request, "researcher")
    store, session = _research_session(request, principal, session_code)
    form = await read_form(request, principal)
    reason = text(form, "reason")
    try:
        if action == "adjudicate":
            ratings.adjudicate(
                store, session, principal.username, text(form, "score", 16), reason, text=True
            )
        elif action == "void":
            corrections.void_session(store, session_code, reason)
        elif action == "move":
            corrections.move_session(store, session_code, text(form, "to", 64), reason)
        else:
            raise Refused(404, "not_found", "no such action")
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other(f"/study/sessions/{session_code}")


@router.post("/children/{code}/correct")
async def correct_child(request: Request, code: str) -> Response:
    principal = who(request, "researcher")
    store = store_of(request, principal)
    subject_or_404(store, code)
    form = await read_form(request, principal)
    try:
        corrections.correct_subject(
            store, code, text(form, "field", 64), text(form, "value", 64), text(form, "reason")
        )
    except PedpainError as exc:
        raise refusal(exc) from None
    return see_other(f"/children/{code}")
