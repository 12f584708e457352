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
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select

from pedpain.core.errors import UsageError
from pedpain.store import Store, audit
from pedpain.store.accounts import ROLES, ApiToken, LoginThrottle, WebSession, WebUser
from pedpain.study.errors import Forbidden

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
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
        if changes.get("active") is False or "password" in changes:
            # ...and revokes every API token for good: re-enabling the account or the old
            # password coming back must not revive a token that may have leaked.
            revoked = _revoke_all(db, user.id)
            if revoked:
                changes["tokens_revoked"] = revoked
        if changes:
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


# Sign-in throttling. A wrong password counts against the account it was typed for, so one
# nurse's typos never lock the next person out; an address is only counted for names that
# are not accounts (guessing), with a generous allowance, because a whole ward may share
# one address behind a proxy. Counts decay with time and an account's resets on success.
ACCOUNT_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 50
DECAY_S = 5 * 60  # one failure forgotten per five quiet minutes


def _account_key(username: str) -> str:
    return f"user:{username[:100]}"


def _address_key(client: str) -> str:
    return f"ip:{client[:100]}"


def _throttle_keys(username: str, client: str) -> list[str]:
    return [_account_key(username), _address_key(client)]


def _decayed(row: LoginThrottle, moment: datetime) -> int:
    """Failures still counted at ``moment``: one is forgotten per ``DECAY_S`` quiet seconds."""
    if row.last_failure is None:
        return int(row.failures or 0)
    quiet = max(0.0, (moment - row.last_failure).total_seconds())
    return max(0, int(row.failures or 0) - int(quiet // DECAY_S))


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


def _record_failure(
    store: Store, username: str, client: str, backoff_s: float, *, known: bool
) -> None:
    moment = now()
    key, free = (
        (_account_key(username), ACCOUNT_FREE_FAILURES)
        if known
        else (_address_key(client), ADDRESS_FREE_FAILURES)
    )
    with store.session() as db, db.begin():
        row = db.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0)
            db.add(row)
        row.failures = _decayed(row, moment) + 1
        row.last_failure = moment
        over = row.failures - free
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
        _record_failure(store, name, client, backoff_s, known=user is not None)
        store.audit("web.login_failed", target=name, detail={"client": client})
        return LoginOutcome(False)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    moment = now()
    with store.session() as db, db.begin():
        # Success wipes the account's count (not the address's: one good password must
        # not license guessing other names from the same place).
        db.execute(delete(LoginThrottle).where(LoginThrottle.key == _account_key(name)))
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
TOKEN_PREFIX = "ppt_"
MAX_TOKEN_DAYS = 3650


class NoSuchToken(UsageError):
    """The token id names no token."""


class AlreadyRevoked(UsageError):
    """The token was revoked before (by someone else, or a double click)."""


@dataclass(frozen=True)
class TokenInfo:
    """What an admin may see of a token (never the secret)."""

    id: int
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str  # active | expired | revoked

    def to_dict(self) -> dict[str, object]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "state": self.state,
        }


def _token_state(token: ApiToken, moment: datetime) -> str:
    if token.revoked:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= moment:
        return "expired"
    return "active"


def _revoke_all(db: Any, user_id: int) -> int:
    moment = now()
    live = list(
        db.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False)))
    )
    for token in live:
        token.revoked = True
        token.revoked_at = moment
    return len(live)


def create_token(
    store: Store, username: str, name: str, *, actor: str, expires_days: float | None = None
) -> str:
    """A new API token for ``username`` (shown once; only its hash is kept), valid for
    ``expires_days`` days or until revoked."""
    if expires_days is not None and not (0 < expires_days <= MAX_TOKEN_DAYS):
        raise UsageError(f"a token's validity is more than 0 and at most {MAX_TOKEN_DAYS} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    moment = now()
    expires = moment + timedelta(days=expires_days) if expires_days is not None else None
    with store.session() as db, db.begin():
        user = db.scalar(select(WebUser).where(WebUser.username == username))
        if user is None:
            raise UsageError(f"no user {username!r}: create it first (pedpain users create)")
        if not user.active:
            raise UsageError(f"user {username!r} is disabled: enable it first")
        db.add(
            ApiToken(
                token_sha256=sha256(token),
                user_id=user.id,
                name=name[:64],
                created_at=moment,
                revoked=False,
                expires_at=expires,
            )
        )
        audit.record(
            db,
            actor,
            "token.create",
            target=username,
            detail={"name": name[:64], "expires_at": expires.isoformat() if expires else None},
        )
    return token


def list_tokens(store: Store, username: str | None = None) -> list[TokenInfo]:
    """Every token (or one user's), newest first, with its state; secrets are not kept."""
    moment = now()
    with store.session() as db:
        query = (
            select(ApiToken, WebUser.username)
            .join(WebUser, WebUser.id == ApiToken.user_id)
            .order_by(ApiToken.id.desc())
        )
        if username is not None:
            if db.scalar(select(WebUser.id).where(WebUser.username == username)) is None:
                raise UsageError(f"no user {username!r}")
            query = query.where(WebUser.username == username)
        return [
            TokenInfo(
                id=token.id,
                username=owner,
                name=token.name,
                created_at=token.created_at,
                last_used_at=token.last_used_at,
                expires_at=token.expires_at,
                revoked_at=token.revoked_at,
                state=_token_state(token, moment),
            )
            for token, owner in db.execute(query)
        ]


def revoke_token(store: Store, token_id: int, *, actor: str, reason: str = "") -> TokenInfo:
    """Revoke one token for good (audited). Revoking a revoked token is refused, so a
    double click cannot hide who revoked it first."""
    with store.session() as db, db.begin():
        row = db.execute(
            select(ApiToken, WebUser.username)
            .join(WebUser, WebUser.id == ApiToken.user_id)
            .where(ApiToken.id == token_id)
        ).first()
        if row is None:
            raise NoSuchToken(f"no API token with id {token_id}")
        token, owner = row
        if token.revoked:
            raise AlreadyRevoked(f"API token {token_id} is already revoked")
        token.revoked = True
        token.revoked_at = now()
        audit.record(
            db,
            actor,
            "token.revoke",
            target=owner,
            reason=reason[:500] or None,
            detail={"token_id": token_id, "name": token.name},
        )
        return TokenInfo(
            token.id,
            owner,
            token.name,
            token.created_at,
            token.last_used_at,
            token.expires_at,
            token.revoked_at,
            "revoked",
        )


def token_principal(store: Store, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with store.session() as db, db.begin():
        row = db.execute(
            select(ApiToken, WebUser)
            .join(WebUser, WebUser.id == ApiToken.user_id)
            .where(ApiToken.token_sha256 == sha256(token))
        ).first()
        if row is None or not row[1].active:
            return None
        tok, user = row
        moment = now()
        if _token_state(tok, moment) != "active":
            return None
        if tok.last_used_at is None or (moment - tok.last_used_at).total_seconds() >= 60:
            tok.last_used_at = moment
        return Principal(user.id, user.username, user.role, via="token")
