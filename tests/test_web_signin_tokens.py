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
from pedpain.web import accounts, create_app
from pedpain.web.accounts import ACCOUNT_FREE_FAILURES, ADDRESS_FREE_FAILURES, DECAY_S
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
            **proxy_options(trusted),  # type: ignore[arg-type]
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
