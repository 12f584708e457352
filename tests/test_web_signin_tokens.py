"""Sign-in throttling as a ward lives it (one shared address, typos, a reset on success,
address limits only for guessed names, client addresses from trusted proxies only) and
API tokens an admin can list, expire and revoke, that die with a password change or a
disabled account and never come back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from pedpain.store.accounts import ApiToken, LoginThrottle
from pedpain.store.models import AuditEntry
from pedpain.study import accounts
from pedpain.study.accounts import ACCOUNT_FREE_FAILURES, ADDRESS_FREE_FAILURES, DECAY_S
from pedpain.web import create_app
from web_fixtures import PASSWORD, WebEnv, csrf_of, free_port, make_env

BASE = "http://127.0.0.1"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    env = make_env(tmp_path, web_login_backoff_s=30)
    app = create_app(env.settings, host="127.0.0.1")
    app.state.env = env
    yield app
    app.state.store.close()


def sign_in(app: Any, user: str, password: str = PASSWORD) -> httpx.Response:
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    page = c.get("/login")
    return c.post(
        "/login", data={"username": user, "password": password, "csrf_token": csrf_of(page.text)}
    )


def test_one_nurses_typos_never_lock_out_the_next_person(app: Any) -> None:
    # Every request comes from the same address (the TestClient's), as behind one proxy.
    for _ in range(ACCOUNT_FREE_FAILURES + 2):
        sign_in(app, "nina", "wrong-password")
    assert sign_in(app, "nina").status_code == 429  # her account is locked...
    assert sign_in(app, "noah").status_code == 303  # ...her colleague is not


def test_success_resets_the_account_and_failures_decay(app: Any) -> None:
    store = app.state.store
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        assert sign_in(app, "nina", "wrong-password").status_code == 401
    assert sign_in(app, "nina").status_code == 303
    # The count started again: as many typos again do not lock.
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        assert sign_in(app, "nina", "wrong-password").status_code == 401
    assert sign_in(app, "nina").status_code == 303
    # Decay: failures spread over time are forgotten one per DECAY_S quiet seconds.
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        sign_in(app, "nina", "wrong-password")
    with store.session() as db, db.begin():
        row = db.get(LoginThrottle, "user:nina")
        assert row is not None and row.failures == ACCOUNT_FREE_FAILURES - 1
        row.last_failure = row.last_failure - timedelta(seconds=3 * DECAY_S)
    sign_in(app, "nina", "wrong-password")
    with store.session() as db:
        row = db.get(LoginThrottle, "user:nina")
        assert row is not None and row.failures == ACCOUNT_FREE_FAILURES - 1 - 3 + 1
        assert row.locked_until is None
    assert sign_in(app, "nina").status_code == 303


def test_guessed_names_lock_the_address_only_after_a_generous_allowance(app: Any) -> None:
    store = app.state.store
    # Failures for real accounts never count against the address.
    for _ in range(3):
        sign_in(app, "noah", "wrong-password")
    with store.session() as db:
        assert db.get(LoginThrottle, "ip:testclient") is None
    for i in range(ADDRESS_FREE_FAILURES - 1):
        assert sign_in(app, f"ghost{i}", "whatever-pw").status_code == 401
    assert sign_in(app, "nina").status_code == 303
    sign_in(app, "ghost-last", "whatever-pw")
    r = sign_in(app, "nina")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # Another address is not concerned.
    outcome = accounts.login(store, "nina", PASSWORD, "10.1.2.3", backoff_s=30)
    assert outcome.ok


def _serve(app: Any, trusted: str) -> tuple[Any, str]:
    import uvicorn

    from pedpain.cli.serve import proxy_options

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            **proxy_options(trusted),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _login_client(app: Any) -> str:
    with app.state.store.session() as db:
        row = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "web.login")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert row is not None
    return str(json.loads(row.detail)["client"])


@pytest.mark.parametrize(
    ("trusted", "seen"), [("127.0.0.1", "203.0.113.7"), ("", "127.0.0.1"), (" , ", "127.0.0.1")]
)
def test_client_address_from_trusted_proxies_only(app: Any, trusted: str, seen: str) -> None:
    server, url = _serve(app, trusted)
    try:
        with httpx.Client(base_url=url, follow_redirects=False) as c:
            page = c.get("/login")
            r = c.post(
                "/login",
                data={"username": "nina", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
                headers={"X-Forwarded-For": "203.0.113.7"},
            )
            assert r.status_code == 303
        assert _login_client(app) == seen
    finally:
        server.should_exit = True


# ----------------------------------------------------------------------------- tokens
def api_ok(app: Any, token: str) -> bool:
    c = TestClient(app, base_url=BASE)
    r = c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def test_tokens_list_revoke_and_expire(app: Any) -> None:
    store = app.state.store
    keep = accounts.create_token(store, "nina", "tablet-1", actor="test")
    gone = accounts.create_token(store, "nina", "tablet-2", actor="test", expires_days=30)
    assert api_ok(app, keep) and api_ok(app, gone)
    listed = {t.name: t for t in accounts.list_tokens(store, "nina")}
    assert listed["tablet-2"].expires_at is not None and listed["tablet-1"].expires_at is None
    assert {t.state for t in listed.values()} == {"active"}
    info = accounts.revoke_token(store, listed["tablet-2"].id, actor="test", reason="lost")
    assert info.state == "revoked" and not api_ok(app, gone) and api_ok(app, keep)
    with pytest.raises(accounts.AlreadyRevoked):
        accounts.revoke_token(store, info.id, actor="test")
    with pytest.raises(accounts.NoSuchToken):
        accounts.revoke_token(store, 99_999, actor="test")
    # Expiry: a token past its end is refused and listed as expired.
    with store.session() as db, db.begin():
        db.execute(
            update(ApiToken)
            .where(ApiToken.id == listed["tablet-1"].id)
            .values(expires_at=accounts.now() - timedelta(seconds=1))
        )
    assert not api_ok(app, keep)
    assert {t.name: t.state for t in accounts.list_tokens(store)}["tablet-1"] == "expired"
    with pytest.raises(accounts.UsageError):
        accounts.create_token(store, "nina", "x", actor="test", expires_days=0)
    with store.session() as db:
        actions = list(db.scalars(select(AuditEntry.action).where(AuditEntry.target == "nina")))
    assert "token.revoke" in actions and actions.count("token.create") == 2


@pytest.mark.parametrize("change", ["password", "disable"])
def test_tokens_die_with_a_password_change_or_a_disabled_account(app: Any, change: str) -> None:
    store = app.state.store
    token = accounts.create_token(store, "noah", "pc", actor="test")
    assert api_ok(app, token)
    if change == "password":
        accounts.update_user(store, "noah", actor="test", password="another-password-1")
    else:
        accounts.update_user(store, "noah", actor="test", active=False)
        accounts.update_user(store, "noah", actor="test", active=True)  # not revived
    assert not api_ok(app, token)
    assert [t.state for t in accounts.list_tokens(store, "noah")] == ["revoked"]


def test_admin_page_and_cli_list_and_revoke(app: Any, cli: Any) -> None:
    store = app.state.store
    env: WebEnv = app.state.env
    token = accounts.create_token(store, "rita", "rater-pc", actor="test")
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    page = c.get("/login")
    c.post("/login", data={"username": "ada", "password": PASSWORD,
                           "csrf_token": csrf_of(page.text)})  # fmt: skip
    page = c.get("/admin/users")
    assert page.status_code == 200 and "rater-pc" in page.text and token not in page.text
    token_id = accounts.list_tokens(store, "rita")[0].id
    r = c.post(f"/admin/tokens/{token_id}/revoke",
               data={"csrf_token": csrf_of(page.text), "reason": "left the ward"})  # fmt: skip
    assert r.status_code == 303 and not api_ok(app, token)
    r = c.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 409
    for missing in ("424242", "x1", "9" * 40):
        r = c.post(f"/admin/tokens/{missing}/revoke", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 404, missing
    # The same through the command line.
    home = ["--home", str(env.home)]
    made = cli(*home, "users", "token", "ravi", "--name", "cli", "--expires-days", "7", "--json")
    assert made.code == 0, made.err
    rows = json.loads(cli(*home, "users", "tokens", "ravi", "--json").out)
    assert [(r["name"], r["state"]) for r in rows] == [("cli", "active")]
    assert rows[0]["expires_at"] is not None
    out = cli(*home, "users", "revoke", str(rows[0]["id"]), "--reason", "test")
    assert out.code == 0, out.err
    again = cli(*home, "users", "revoke", str(rows[0]["id"]))
    assert again.code == 2 and "already revoked" in again.err
    assert cli(*home, "users", "tokens", "nobody").code == 2
    bad = cli(*home, "users", "token", "ravi", "--expires-days", "-1")
    assert bad.code == 2


# ----------------------------------------------------------------------------- the door
def test_anonymous_refusals_are_aggregated_and_limited(app: Any) -> None:
    def rows() -> list[AuditEntry]:
        with app.state.store.session() as db:
            return list(db.scalars(select(AuditEntry).where(AuditEntry.action == "web.refused")))

    c = TestClient(app, base_url=BASE, follow_redirects=False)
    start = len(rows())
    for _ in range(100):
        assert c.get("/api/v1/children").status_code == 401
    assert len(rows()) == start + 1  # not 100 rows
    app.state.refusals.flush()
    last = rows()[-1]
    assert json.loads(last.detail)["repeats"] == 99 and last.target == "GET /api/v1/children"
    app.state.refusals.limit = 130  # 100 refusals so far in this window
    codes = [c.get("/children").status_code for _ in range(40)]
    assert codes[:30] == [303] * 30 and codes[30:] == [429] * 10
    # A signed-in caller is not concerned by the anonymous limit.
    token = accounts.create_token(app.state.store, "nina", "t", actor="test")
    assert api_ok(app, token)


def test_bodies_are_not_read_before_the_caller_is_known(app: Any) -> None:
    import socket

    server, url = _serve(app, "")
    try:
        # Anonymous, streamed: the headers and 1 MB of a body announced as chunked, then
        # nothing more. The answer must come at once, without waiting for the rest.
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(
                b"POST /api/v1/children HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"100000\r\n"
                + b"x" * 0x100000
                + b"\r\n"
            )
            answer = raw.recv(200)
        assert answer.startswith(b"HTTP/1.1 401"), answer
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as c:
            # Malformed JSON from an anonymous caller: 401, no parser details.
            r = c.post("/api/v1/children", content=b'{"code": ',
                       headers={"content-type": "application/json"})  # fmt: skip
            assert r.status_code == 401 and r.json()["error"] == "no_token"
            # Signed in: a malformed body is one line in the contract's shape.
            token = accounts.create_token(app.state.store, "nina", "t", actor="test")
            auth = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
            r = c.post("/api/v1/children", content=b'{"code": ', headers=auth)
            assert r.status_code == 422, r.text
            assert set(r.json()) == {"error", "message"} and r.json()["error"] == "bad_input"
    finally:
        server.should_exit = True


def test_streamed_upload_over_the_limit_is_413_and_audited(tmp_path: Path) -> None:
    env = make_env(tmp_path, web_max_upload_mb=1)
    app = create_app(env.settings, host="127.0.0.1")
    server, url = _serve(app, "")
    try:
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as c:
            page = c.get("/login")
            c.post("/login", data={"username": "nina", "password": PASSWORD,
                                   "csrf_token": csrf_of(page.text)})  # fmt: skip
            page = c.get("/children/new")
            child = {"code": "X-1", "age": "4y", "sex": "M", "group": "control"}
            child |= {"guardian_consent": "1", "csrf_token": csrf_of(page.text)}
            r = c.post("/children/new", data=child)
            assert r.status_code == 303, r.text
            head = (
                b'--b0undary\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
                + csrf_of(page.text).encode()
                + b'\r\n--b0undary\r\nContent-Disposition: form-data; name="media"; '
                b'filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            )

            def body() -> Iterator[bytes]:  # 3 MB of file, chunked (no Content-Length)
                yield head
                for _ in range(12):
                    yield b"x" * (1 << 18)
                yield b"\r\n--b0undary--\r\n"

            multipart = {"content-type": "multipart/form-data; boundary=b0undary"}
            r = c.post("/children/X-1/assessments", content=body(), headers=multipart)
            assert r.status_code == 413, r.text
        with app.state.store.session() as db:
            reasons = list(
                db.scalars(select(AuditEntry.reason).where(AuditEntry.action == "web.refused"))
            )
        assert "upload_too_large" in reasons
    finally:
        server.should_exit = True
        time.sleep(0.2)
        app.state.store.close()


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/children/W-9", "/children/W-9"),
        ("//evil.example/x", "/children"),
        ("https://evil.example/", "/children"),
        ("/login", "/children"),
        ("/\\evil.example", "/children"),
    ],
)
def test_sign_in_returns_to_the_page_asked_for(app: Any, target: str, lands: str) -> None:
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    if target == "/children/W-9":
        r = c.get(target)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fchildren%2FW-9"
    page = c.get("/login", params={"next": target})
    r = c.post("/login", data={"username": "nina", "password": PASSWORD, "next": target,
                               "csrf_token": csrf_of(page.text)})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == lands


def test_a_browsers_side_fetch_never_replaces_the_open_sign_in_form(app: Any) -> None:
    c = TestClient(app, base_url=BASE, follow_redirects=False)
    form = c.get("/login")
    # The favicon fetch a browser makes beside the page: refused plainly, no sign-in page.
    r = c.get("/favicon.ico", headers={"Sec-Fetch-Dest": "image"})
    assert r.status_code == 401 and "location" not in r.headers
    again = c.get("/login")  # a reload or a second tab keeps the same form nonce
    assert csrf_of(again.text) == csrf_of(form.text)
    r = c.post("/login", data={"username": "nina", "password": PASSWORD,
                               "csrf_token": csrf_of(form.text)})  # fmt: skip
    assert r.status_code == 303
