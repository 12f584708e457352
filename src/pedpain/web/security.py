"""The app's guards: who is calling (session cookie or bearer token), what their role may
do, CSRF tokens on every form, request size limits, security headers. Every refusal is
raised as :class:`Refused` and audited by the app's handler."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pedpain.study.accounts import Principal, session_principal, token_principal

SESSION_COOKIE = "pedpain_session"
LOGIN_COOKIE = "pedpain_login"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class Refused(Exception):
    """A request the app will not serve: HTTP ``status`` and a short ``reason`` code."""

    def __init__(self, status: int, reason: str, message: str = "", retry_after: int = 0):
        super().__init__(message or reason)
        self.status = status
        self.reason = reason
        self.message = message or reason.replace("_", " ")
        self.retry_after = retry_after


@dataclass(frozen=True)
class WebConfig:
    secure_cookies: bool
    idle_minutes: float
    max_upload_bytes: int
    login_backoff_s: float

    @property
    def session_cookie(self) -> str:
        # The __Host- prefix pins the cookie to this host, path / and HTTPS.
        return "__Host-" + SESSION_COOKIE if self.secure_cookies else SESSION_COOKIE


def cookie_args(config: WebConfig, max_age: int | None = None) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": config.secure_cookies,
        "path": "/",
        "max_age": max_age,
    }


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def principal_of(request: Request, *, api: bool) -> Principal | None:
    """The caller: the API takes bearer tokens only (no cookies, so no CSRF); pages take
    the session cookie only. The app's gate resolved it already for every route that is
    not public (``scope["state"]["caller"]``): it is not looked up twice."""
    cached = request.scope.get("state", {}).get("caller")
    if cached is not None:
        return cached
    store = request.app.state.store
    if api:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return token_principal(store, token.strip())
    config: WebConfig = request.app.state.config
    token = request.cookies.get(config.session_cookie, "")
    return session_principal(store, token, config.idle_minutes) if token else None


def check_csrf(principal: Principal, form_token: str | None) -> None:
    if principal.via == "token":
        return
    if not form_token or not hmac.compare_digest(
        form_token.encode("utf-8"), principal.csrf_token.encode("utf-8")
    ):
        raise Refused(403, "csrf", "the form expired or did not come from this app: reload it")


# Login forms come before any session: a signed nonce bound to a cookie (double submit).
def login_token(secret: bytes, nonce: str) -> str:
    mac = hmac.new(secret, nonce.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{nonce}.{mac}"


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def check_login_token(secret: bytes, cookie_nonce: str | None, form_token: str | None) -> None:
    if not cookie_nonce or not form_token or "." not in form_token:
        raise Refused(403, "csrf", "the sign-in form expired: reload it")
    nonce = form_token.split(".", 1)[0]
    expected = login_token(secret, cookie_nonce)
    if nonce != cookie_nonce or not hmac.compare_digest(expected, form_token):
        raise Refused(403, "csrf", "the sign-in form expired: reload it")


class LimitBody:
    """Refuse request bodies over ``limit`` bytes (declared or streamed) with 413 before
    the app reads them into memory."""

    def __init__(self, app: ASGIApp, limit: int, on_refuse: Callable[[Scope, int], None]):
        self.app = app
        self.limit = limit
        self.on_refuse = on_refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = self.limit + 1
            if size > self.limit:
                await self._refuse(scope, send, size)
                return
        seen = 0
        too_big = False
        started = False

        async def counted() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_big = True
                    raise _TooLarge()
            return message

        async def guarded(message: Message) -> None:
            # A streamed (chunked) body over the limit surfaces inside the app's body parser,
            # which may answer 400 on its own: that answer is dropped and 413 sent instead.
            nonlocal started
            if too_big:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counted, guarded)
        if too_big and not started:
            await self._refuse(scope, send, seen)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        self.on_refuse(scope, size)
        body = b"upload too large"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
    response = await call_next(request)
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.url.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    return response
