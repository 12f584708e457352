"""Accounts: users and roles, argon2 password hashes, browser sessions, API tokens, login
throttling. Pure database logic (no HTTP) so that the CLI and the app share it.

Secrets are never stored: sessions and API tokens are random 256-bit values of which only
the SHA-256 is kept; passwords are argon2id hashes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select

from pedpain.core.errors import UsageError
from pedpain.store import Store, audit
from pedpain.store.accounts import ROLES, ApiToken, LoginThrottle, WebSession, WebUser
from pedpain.study.errors import Forbidden

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
FREE_FAILURES = 3  # failed sign-ins before the backoff starts
MAX_LOCK_S = 15 * 60
SESSION_MAX_HOURS = 12

_hasher = PasswordHasher()
# Verifying against a dummy hash when the user is unknown keeps timing the same.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in browser or an API token, with its role."""

    user_id: int
    username: str
    role: str
    csrf_token: str = ""
    via: str = "session"  # session | token

    @property
    def actor(self) -> str:
        return f"web:{self.username}"


def now() -> datetime:
    return datetime.now().replace(microsecond=0)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_username(name: str) -> str:
    name = name.strip().lower()
    if not USERNAME.match(name):
        raise UsageError(
            "user names are 2-32 characters: a lower-case letter, then letters, digits, . _ -"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"passwords need at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise UsageError("password too long")
    return password


def create_user(store: Store, username: str, role: str, password: str, *, actor: str) -> WebUser:
    username, role = check_username(username), check_role(role)
    check_password(password)
    with store.session() as db, db.begin():
        if db.scalar(select(WebUser.id).where(WebUser.username == username)) is not None:
            raise UsageError(f"user {username!r} already exists")
        user = WebUser(
            username=username,
            role=role,
            password_hash=_hasher.hash(password),
            active=True,
            created_at=now(),
        )
        db.add(user)
        audit.record(db, actor, "user.create", target=username, detail={"role": role})
    return user


def update_user(
    store: Store,
    username: str,
    *,
    actor: str,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    acting_user: str | None = None,
) -> None:
    """Change a role, the active flag or the password. Lock-out rules, the same for the
    admin page and ``pedpain users set``: an admin signed in as ``acting_user`` cannot
    disable or demote their own account, and nobody can disable or demote the last
    active admin (the study would have no one left to manage accounts)."""
    with store.session() as db, db.begin():
        user = db.scalar(select(WebUser).where(WebUser.username == username).with_for_update())
        if user is None:
            raise UsageError(f"no user {username!r}")
        demoted = role is not None and role != "admin" and user.role == "admin"
        disabled = active is False and user.role == "admin" and user.active
        if (demoted or disabled) and acting_user == username:
            raise Forbidden("you cannot lock yourself out: ask another admin")
        if demoted or disabled:
            admins = db.scalar(
                select(func.count())
                .select_from(WebUser)
                .where(WebUser.role == "admin", WebUser.active.is_(True))
            )
            if user.active and int(admins or 0) <= 1:
                raise Forbidden(f"{username} is the last active admin: create another first")
        changes: dict[str, object] = {}
        if role is not None and role != user.role:
            user.role = check_role(role)
            changes["role"] = role
        if active is not None and active != user.active:
            user.active = active
            changes["active"] = active
        if password is not None:
            user.password_hash = _hasher.hash(check_password(password))
            changes["password"] = "changed"
        if changes:
            # A changed role, a disabled account or a new password ends every session.
            db.execute(delete(WebSession).where(WebSession.user_id == user.id))
            audit.record(db, actor, "user.update", target=username, detail=changes)


def list_users(store: Store) -> list[WebUser]:
    with store.session() as db:
        return list(db.scalars(select(WebUser).order_by(WebUser.username)))


def count_users(store: Store) -> int:
    return len(list_users(store))


# ----------------------------------------------------------------------------- sign-in
@dataclass(frozen=True)
class LoginOutcome:
    ok: bool
    principal: Principal | None = None
    session_token: str = ""
    retry_after_s: int = 0  # > 0: throttled


def _throttle_keys(username: str, client: str) -> list[str]:
    return [f"user:{username[:100]}", f"ip:{client[:100]}"]


def locked_for(store: Store, username: str, client: str) -> int:
    """Seconds until a sign-in for this user or from this address may be tried again."""
    moment = now()
    with store.session() as db:
        rows = db.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(_throttle_keys(username, client)))
        )
        waits = [
            int((r.locked_until - moment).total_seconds()) + 1
            for r in rows
            if r.locked_until is not None and r.locked_until > moment
        ]
    return max(waits, default=0)


def _record_failure(store: Store, username: str, client: str, backoff_s: float) -> None:
    moment = now()
    with store.session() as db, db.begin():
        for key in _throttle_keys(username, client):
            row = db.get(LoginThrottle, key)
            if row is None:
                row = LoginThrottle(key=key, failures=0)
                db.add(row)
            row.failures = (row.failures or 0) + 1
            row.last_failure = moment
            over = row.failures - FREE_FAILURES
            if over >= 0 and backoff_s > 0:
                # Exponential backoff: 1x, 2x, 4x ... the base, capped at 15 minutes.
                wait = min(backoff_s * (2 ** min(over, 20)), MAX_LOCK_S)
                row.locked_until = moment + timedelta(seconds=wait)


def login(
    store: Store, username: str, password: str, client: str, *, backoff_s: float
) -> LoginOutcome:
    """Check a password; on success open a browser session (token returned once)."""
    name = username.strip().lower()[:64]
    wait = locked_for(store, name, client)
    if wait > 0:
        store.audit("web.login_throttled", target=name, detail={"client": client, "retry_s": wait})
        return LoginOutcome(False, retry_after_s=wait)
    with store.session() as db:
        user = db.scalar(select(WebUser).where(WebUser.username == name))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        good: bool = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        good = False
    if not good or user is None or not user.active:
        _record_failure(store, name, client, backoff_s)
        store.audit("web.login_failed", target=name, detail={"client": client})
        return LoginOutcome(False)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    moment = now()
    with store.session() as db, db.begin():
        db.execute(
            delete(LoginThrottle).where(LoginThrottle.key == _throttle_keys(name, client)[0])
        )
        if _hasher.check_needs_rehash(user.password_hash):
            db.get_one(WebUser, user.id).password_hash = _hasher.hash(password)
        db.get_one(WebUser, user.id).last_login_at = moment
        db.add(
            WebSession(
                token_sha256=sha256(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=moment,
                last_seen=moment,
                client=client[:64],
            )
        )
        audit.record(db, f"web:{name}", "web.login", target=name, detail={"client": client})
    return LoginOutcome(True, Principal(user.id, user.username, user.role, csrf), token)


def session_principal(store: Store, token: str, idle_minutes: float) -> Principal | None:
    """The signed-in user of a session cookie, or None (unknown, idle too long, too old,
    disabled account). A live session's idle clock restarts."""
    if not token or len(token) > 200:
        return None
    moment = now()
    with store.session() as db, db.begin():
        row = db.execute(
            select(WebSession, WebUser)
            .join(WebUser, WebUser.id == WebSession.user_id)
            .where(WebSession.token_sha256 == sha256(token))
        ).first()
        if row is None:
            return None
        session, user = row
        idle = moment - session.last_seen > timedelta(minutes=idle_minutes)
        old = moment - session.created_at > timedelta(hours=SESSION_MAX_HOURS)
        if idle or old or not user.active:
            db.delete(session)
            audit.record(
                db,
                f"web:{user.username}",
                "web.session_expired",
                target=user.username,
                detail={"why": "idle" if idle else "age" if old else "disabled"},
            )
            return None
        if (moment - session.last_seen).total_seconds() >= 5:
            session.last_seen = moment  # write at most every few seconds
        return Principal(user.id, user.username, user.role, session.csrf_token)


def logout(store: Store, token: str) -> None:
    with store.session() as db, db.begin():
        db.execute(delete(WebSession).where(WebSession.token_sha256 == sha256(token)))


# ----------------------------------------------------------------------------- tokens
def create_token(store: Store, username: str, name: str, *, actor: str) -> str:
    """A new API token for ``username`` (shown once; only its hash is kept)."""
    token = "ppt_" + secrets.token_urlsafe(32)
    with store.session() as db, db.begin():
        user = db.scalar(select(WebUser).where(WebUser.username == username))
        if user is None:
            raise UsageError(f"no user {username!r}: create it first (pedpain users create)")
        db.add(
            ApiToken(
                token_sha256=sha256(token),
                user_id=user.id,
                name=name[:64],
                created_at=now(),
                revoked=False,
            )
        )
        audit.record(db, actor, "token.create", target=username, detail={"name": name[:64]})
    return token


def token_principal(store: Store, token: str) -> Principal | None:
    if not token.startswith("ppt_") or len(token) > 200:
        return None
    with store.session() as db, db.begin():
        row = db.execute(
            select(ApiToken, WebUser)
            .join(WebUser, WebUser.id == ApiToken.user_id)
            .where(ApiToken.token_sha256 == sha256(token))
        ).first()
        if row is None or row[0].revoked or not row[1].active:
            return None
        tok, user = row
        moment = now()
        if tok.last_used_at is None or (moment - tok.last_used_at).total_seconds() >= 60:
            tok.last_used_at = moment
        return Principal(user.id, user.username, user.role, via="token")
