"""Security of the web app, against 127.0.0.1: no route without a session, each role
refused what it must not do, CSRF, guessed ids, path traversal, script injection,
oversized and disguised uploads, login throttling, idle timeout, cookie flags. Every
refusal must leave an audit entry."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pedpain.store.models import AuditEntry
from pedpain.study.accounts import ACCOUNT_FREE_FAILURES
from pedpain.web import create_app
from web_fixtures import PASSWORD, LiveServer, WebEnv, csrf_of, make_env, make_media

BASE = "http://127.0.0.1"
PUBLIC = {"/login", "/healthz"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> WebEnv:
    root = tmp_path_factory.mktemp("web-sec")
    env = make_env(root, web_max_upload_mb=1)
    env.media = make_media(root / "media")
    return env


@pytest.fixture(scope="module")
def app(env: WebEnv) -> Iterator[Any]:
    app = create_app(env.settings, host="127.0.0.1")
    yield app
    app.state.store.close()


def client(app: Any) -> TestClient:
    return TestClient(app, base_url=BASE, follow_redirects=False)


def login(app: Any, user: str) -> tuple[TestClient, str]:
    c = client(app)
    r = c.get("/login")
    r = c.post(
        "/login", data={"username": user, "password": PASSWORD, "csrf_token": csrf_of(r.text)}
    )
    assert r.status_code == 303, r.text
    page = c.get("/children/new" if user.startswith("n") else r.headers["location"])
    return c, csrf_of(page.text)


def refusals(app: Any) -> int:
    with app.state.store.session() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "web.refused")
            )
        )


def last_refusal(app: Any) -> AuditEntry:
    with app.state.store.session() as db:
        return db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "web.refused")
            .order_by(AuditEntry.id.desc())
        ).first()


def refused(app: Any, response: httpx.Response, status: int, reason: str, before: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert refusals(app) == before + 1
    assert last_refusal(app).reason == reason


@pytest.fixture(scope="module")
def world(app: Any, env: WebEnv) -> dict[str, Any]:
    """Two children, each with one stored session (no model: the assessment errors, which
    the app stores too)."""
    nurse, csrf = login(app, "nina")
    out: dict[str, Any] = {}
    for code in ("W-001", "W-002"):
        r = nurse.post(
            "/children/new",
            data={"csrf_token": csrf, "code": code, "age": "4y", "sex": "M", "group": "control",
                  "guardian_consent": "1"},
        )  # fmt: skip
        assert r.status_code == 303, r.text
        r = nurse.post(
            f"/children/{code}/assessments",
            data={"csrf_token": csrf, "time_point": "pain"},
            files=[("media", ("p.jpg", env.media["grace"].read_bytes(), "image/jpeg"))],
        )
        assert r.status_code == 303, r.text
        out[code] = r.headers["location"].rsplit("/", 1)[-1]
    return out


def all_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every (path, methods) of the app, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods)
        elif hasattr(route, "original_router"):
            ctx = route.include_context
            yield from all_routes(route.original_router.routes, prefix + ctx.prefix)


def _fill(path: str, world: dict[str, Any]) -> str:
    return (
        path.replace("{code}", "W-001")
        .replace("{session_code}", world["W-001"])
        .replace("{slot}", "photo_1.jpg")
        .replace("{username}", "nina")
        .replace("{export_id}", "x")
        .replace("{name}", "y")
        .replace("{report_id}", "z")
    )


def test_every_route_refuses_without_a_session(app: Any, world: dict[str, Any]) -> None:
    c = client(app)
    checked = 0
    for path, methods in all_routes(app.routes):
        if path in PUBLIC:
            continue
        for method in methods:
            before = refusals(app)
            r = c.request(method, _fill(path, world))
            if path.startswith("/api/"):
                refused(app, r, 401, "no_token", before)
            else:
                refused(app, r, 303, "no_session", before)
                # GET pages remember where the caller was going (sign-in returns there).
                expected = "/login" if method != "GET" or path == "/" else "/login?next="
                assert r.headers["location"].startswith(expected), r.headers["location"]
            checked += 1
    assert checked >= 35
    # A session cookie is no API credential, and a made-up token is nothing. Both repeat
    # a refusal the loop above wrote already: within its minute they are counted, not
    # written again, until the window closes (or the app stops).
    nurse, _ = login(app, "nina")
    before = refusals(app)
    assert nurse.get("/api/v1/me").status_code == 401
    assert c.get("/api/v1/me", headers={"Authorization": "Bearer ppt_guess"}).status_code == 401
    assert refusals(app) == before
    app.state.refusals.flush()
    assert refusals(app) == before + 1
    assert last_refusal(app).reason == "no_token" and '"repeats": 2' in last_refusal(app).detail


ROLE_FORBIDDEN = {
    "nina": ["/study", "/study/exports", "/study/models", "/study/withdraw", "/admin/users",
             "/admin/audit", "/rate"],
    "rita": ["/children", "/children/W-001", "/children/W-001/sessions/{session_code}",
             "/study", "/admin/audit"],
    "remy": ["/children/new", "/rate", "/admin/users"],
    "ada": ["/children", "/study", "/rate"],
}  # fmt: skip


@pytest.mark.parametrize("user", sorted(ROLE_FORBIDDEN))
def test_roles_are_refused_what_they_must_not_do(app: Any, world: dict[str, Any], user: str):
    c, csrf = login(app, user)
    for path in ROLE_FORBIDDEN[user]:
        before = refusals(app)
        r = c.get(_fill(path, world))
        refused(app, r, 403, "forbidden_role", before)
        assert "not a medical device" in r.text
    if user == "nina":  # a nurse cannot export, nor withdraw, nor make users
        for path, data in (
            ("/study/exports", {}),
            ("/study/withdraw", {"code": "W-001", "confirm": "W-001", "reason": "x"}),
            ("/admin/users", {"username": "evil", "role": "admin", "password": "x" * 12}),
        ):
            before = refusals(app)
            refused(
                app, c.post(path, data={"csrf_token": csrf, **data}), 403, "forbidden_role", before
            )


def test_api_tokens_carry_their_role(app: Any, world: dict[str, Any], cli, env: WebEnv) -> None:
    r = cli("--home", str(env.home), "users", "token", "nina", "--json")
    assert r.code == 0, r.err
    token = json.loads(r.out)["token"]
    c = client(app)
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/v1/me", headers=auth).json()["role"] == "nurse"
    assert c.get("/api/v1/children/W-001", headers=auth).status_code == 200
    before = refusals(app)
    refused(app, c.get("/api/v1/study/stats", headers=auth), 403, "forbidden_role", before)
    r = c.post("/api/v1/rater/sessions/x/rating", headers=auth, json={"score": 1})
    refused(app, r, 403, "forbidden_role", before + 1)
    # The password never goes on the command line.
    r = cli("--home", str(env.home), "users", "create", "--role", "admin", "eve", "--password", "x")
    assert r.code == 2


def test_rater_is_blind_until_submitting(app: Any, world: dict[str, Any]) -> None:
    c, _ = login(app, "rita")
    queue = c.get("/rate").text
    assert world["W-001"] in queue
    page = c.get(f"/rate/{world['W-001']}").text
    assert "AI:" not in page and "Another rater" not in page and "assessment failed" not in page
    before = refusals(app)
    r = c.get(f"/children/W-001/sessions/{world['W-001']}")
    refused(app, r, 403, "forbidden_role", before)
    c.post(f"/rate/{world['W-001']}", data={"csrf_token": csrf_of(page), "score": "2"})
    assert "AI:" in c.get(f"/rate/{world['W-001']}").text


def test_csrf_is_required_on_every_form(app: Any, world: dict[str, Any]) -> None:
    nurse, _ = login(app, "nina")
    _, other_csrf = login(app, "noah")  # another user's valid token is no good here
    for token in (None, "", "forged", other_csrf):
        data = {"code": "W-099", "age": "4y", "sex": "F", "guardian_consent": "1"}
        if token is not None:
            data["csrf_token"] = token
        before = refusals(app)
        refused(app, nurse.post("/children/new", data=data), 403, "csrf", before)
    before = refusals(app)
    r = nurse.post(f"/children/W-001/sessions/{world['W-001']}/bps", data={"score": "3"})
    refused(app, r, 403, "csrf", before)
    r = client(app).post("/login", data={"username": "nina", "password": PASSWORD})
    refused(app, r, 403, "csrf", before + 1)


def test_guessed_ids_are_not_found(app: Any, world: dict[str, Any]) -> None:
    nurse, csrf = login(app, "nina")
    for path in (
        f"/children/W-001/sessions/{world['W-002']}",  # W-002's session under W-001
        f"/children/W-001/sessions/{world['W-002']}/media/photo_1.jpg",
        "/children/W-777",
        f"/children/W-001/sessions/{world['W-001']}x",
    ):
        before = refusals(app)
        refused(app, nurse.get(path), 404, "not_found", before)
    before = refusals(app)
    r = nurse.post(
        f"/children/W-001/sessions/{world['W-002']}/bps", data={"csrf_token": csrf, "score": "1"}
    )
    refused(app, r, 404, "not_found", before)
    rater, _ = login(app, "ravi")
    before = refusals(app)
    refused(app, rater.get("/rate/W-001-20990101000000-abcdef"), 404, "not_found", before)


def test_path_traversal_is_refused(app: Any, world: dict[str, Any], env: WebEnv) -> None:
    researcher, _ = login(app, "remy")
    nurse, _ = login(app, "nina")
    key = str(env.settings.key_file)
    for c, path in (
        (researcher, "/study/exports/..%2F..%2F/media.key"),
        (researcher, "/study/exports/x/..%2F..%2F..%2Fmedia.key"),
        (researcher, "/study/reports/..~..~media.key"),
        (researcher, f"/study/reports/{key.replace('/', '~')}"),
        (nurse, f"/children/W-001/sessions/{world['W-001']}/media/..%2F..%2Fpedpain.db"),
        (nurse, "/children/..%2F..%2Fetc%2Fpasswd"),
    ):
        before = refusals(app)
        r = c.get(path)
        assert r.status_code == 404, path
        assert refusals(app) == before + 1, path
        assert "BEGIN" not in r.text and "SQLite" not in r.text
    # /static serves its own folder only.
    assert client(app).get("/static/..%2F..%2Fcore%2Fsettings.py").status_code == 404


XSS = "<script>alert(1)</script>"


def test_script_injection_is_escaped_or_refused(app: Any, world: dict[str, Any]) -> None:
    nurse, csrf = login(app, "nina")
    r = nurse.post("/children/new", data={"csrf_token": csrf, "code": XSS, "age": XSS, "sex": "F"})
    assert r.status_code == 400 and XSS not in r.text and "&lt;script&gt;" in r.text
    assert XSS not in nurse.get("/children", params={"q": XSS}).text
    r = nurse.post(
        f"/children/W-001/sessions/{world['W-001']}/bps", data={"csrf_token": csrf, "score": XSS}
    )
    assert r.status_code == 400 and XSS not in r.text
    r = nurse.post(
        "/children/W-001/assessments",
        data={"csrf_token": csrf, "time_point": XSS, "hours": XSS},
        files=[("media", (XSS + ".jpg", b"\xff\xd8\xff" + b"0" * 100, "image/jpeg"))],
    )
    assert r.status_code in (400, 415) and XSS not in r.text
    admin, acsrf = login(app, "ada")
    r = admin.post(
        "/admin/users",
        data={"csrf_token": acsrf, "username": XSS, "role": "nurse", "password": XSS * 2},
    )
    assert r.status_code == 400 and XSS not in r.text
    researcher, rcsrf = login(app, "remy")
    r = researcher.post(
        "/study/withdraw", data={"csrf_token": rcsrf, "code": XSS, "confirm": XSS, "reason": XSS}
    )
    assert r.status_code == 400 and XSS not in r.text
    # Whatever reached the audit log is shown escaped there.
    page = admin.get("/admin/audit", params={"actor": XSS}).text
    assert XSS not in page
    assert XSS not in admin.get("/admin/audit").text


def test_oversized_and_disguised_uploads(app: Any, world: dict[str, Any], tmp_path: Path) -> None:
    nurse, csrf = login(app, "nina")
    url = "/children/W-001/assessments"
    before = refusals(app)
    big = b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024)  # over the 1 MB limit of this app
    r = nurse.post(url, data={"csrf_token": csrf, "time_point": "pain"},
                   files=[("media", ("big.jpg", big, "image/jpeg"))])  # fmt: skip
    refused(app, r, 413, "upload_too_large", before)
    disguised = {
        "text.jpg": b"just some text, not a photo at all",
        "page.jpg": b"<html><script>alert(1)</script></html>",
        "archive.mp4": b"PK\x03\x04" + b"\0" * 200,
        "empty.jpg": b"",
    }
    for name, data in disguised.items():
        before = refusals(app)
        r = nurse.post(url, data={"csrf_token": csrf, "time_point": "pain"},
                       files=[("media", (name, data, "image/jpeg"))])  # fmt: skip
        refused(app, r, 415, "upload_type", before)
    # Four photos are one too many.
    jpeg = (Path(app.state.settings.home).parent / "media" / "grace.jpg").read_bytes()
    before = refusals(app)
    four = [("media", (f"{i}.jpg", jpeg, "image/jpeg")) for i in range(4)]
    r = nurse.post(url, data={"csrf_token": csrf, "time_point": "pain"}, files=four)
    assert r.status_code in (400, 415) and refusals(app) == before + 1


def test_security_headers_and_cookie_flags(app: Any, env: WebEnv) -> None:
    c = client(app)
    r = c.get("/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert (
        r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    )
    r = c.post(
        "/login", data={"username": "nina", "password": PASSWORD, "csrf_token": csrf_of(r.text)}
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    # Listening beyond this machine: Secure cookies with the __Host- prefix.
    public = create_app(env.settings, host="0.0.0.0", store=app.state.store)
    c = TestClient(public, base_url="https://ward.example", follow_redirects=False)
    r = c.get("/login")
    r = c.post(
        "/login", data={"username": "nina", "password": PASSWORD, "csrf_token": csrf_of(r.text)}
    )
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-pedpain_session=") and "Secure" in cookie


def test_login_throttling_and_idle_timeout(tmp_path: Path) -> None:
    env = make_env(tmp_path, web_login_backoff_s=30, web_idle_minutes=0.02)
    app = create_app(env.settings, host="127.0.0.1")
    try:
        # Idle timeout: a session unused for over 1.2 s is gone.
        c, _ = login(app, "nina")
        assert c.get("/children").status_code == 200
        time.sleep(2.5)
        r = c.get("/children")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fchildren"
        with app.state.store.session() as db:
            assert db.scalar(select(AuditEntry).where(AuditEntry.action == "web.session_expired"))
        # Throttling: ACCOUNT_FREE_FAILURES failures lock the account; then even the right
        # password is refused with Retry-After (tests/test_web_signin_tokens.py has the rest).
        c = client(app)
        for _ in range(ACCOUNT_FREE_FAILURES):
            page = c.get("/login")
            r = c.post("/login", data={"username": "nina", "password": "wrong-password",
                                       "csrf_token": csrf_of(page.text)})  # fmt: skip
            assert r.status_code == 401
        page = c.get("/login")
        before = refusals(app)
        r = c.post("/login", data={"username": "nina", "password": PASSWORD,
                                   "csrf_token": csrf_of(page.text)})  # fmt: skip
        refused(app, r, 429, "throttled", before)
        assert int(r.headers["retry-after"]) > 0
        with app.state.store.session() as db:
            actions = set(db.scalars(select(AuditEntry.action)))
        assert {"web.login_failed", "web.login_throttled"} <= actions
    finally:
        app.state.store.close()


def test_real_server_refuses_too(env: WebEnv) -> None:
    live = LiveServer(env)
    try:
        with httpx.Client(base_url=live.url, follow_redirects=False) as c:
            assert c.get("/healthz").text == "ok"
            assert c.get("/children").status_code == 303
            assert c.get("/api/v1/children/W-001").status_code == 401
            # Anonymous: refused before the body is read (tests/test_web_signin_tokens.py
            # has the streamed case); signed in: over the limit is 413.
            r = c.post("/children/new", content=b"x" * (2 * 1024 * 1024),
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
            assert r.status_code == 303
            page = c.get("/login")
            c.post("/login", data={"username": "nina", "password": PASSWORD,
                                   "csrf_token": csrf_of(page.text)})  # fmt: skip
            r = c.post("/children/new", content=b"x" * (2 * 1024 * 1024),
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
            assert r.status_code == 413
            assert re.search(r"upload too large", r.text)
    finally:
        live.stop()
