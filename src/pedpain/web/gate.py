"""The door of the app: a caller is identified before anything else happens.

Every request except the sign-in page, the health check and static files must carry a
credential (the session cookie for pages, a bearer token for ``/api/v1``) that resolves to
an account *before* its body is read or its parameters are parsed, so an anonymous caller
cannot make the server read a large upload, learn the shape of a route from a parser's
error, or fill the audit log: anonymous refusals are counted per address, path and reason
and written as one audit row per minute (with the count), and an address that keeps
knocking is slowed down with 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

PUBLIC_PATHS = frozenset({"/login", "/healthz"})
PUBLIC_PREFIXES = ("/static/",)
WINDOW_S = 60.0
# Anonymous refusals one address may collect per window before it is answered with 429:
# generous for a ward's tablets behind one proxy whose sessions all expired at once.
ANONYMOUS_LIMIT = 600


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


@dataclass
class _Window:
    started: float
    count: int = 0  # refusals after the first one, not yet written


@dataclass
class RefusalLog:
    """Aggregates anonymous refusals: the first of a kind (address, target, reason) in a
    window is written at once; the repeats are written as one row with their count when
    the window has passed (on the next refusal of that kind, or at :meth:`flush`)."""

    write: Callable[[str, str, str, dict[str, Any]], None]
    window_s: float = WINDOW_S
    limit: int = ANONYMOUS_LIMIT
    _windows: dict[tuple[str, str, str], _Window] = field(default_factory=dict)
    _per_client: dict[str, _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, client: str, target: str, reason: str, status: int) -> bool:
        """Record one anonymous refusal; True when the address is over its limit."""
        moment = time.monotonic()
        due: list[tuple[tuple[str, str, str], int]] = []
        with self._lock:
            key = (client, target, reason)
            window = self._windows.get(key)
            first = window is None or moment - window.started >= self.window_s
            if window is not None and first and window.count:
                due.append((key, window.count))
            if first:
                self._windows[key] = _Window(moment)
            else:
                assert window is not None
                window.count += 1
            per = self._per_client.get(client)
            if per is None or moment - per.started >= self.window_s:
                per = self._per_client[client] = _Window(moment)
            per.count += 1
            over = per.count > self.limit
            if len(self._windows) > 10_000:  # bounded memory under a spray of paths
                due.extend(self._drain())
        for (c, t, r), count in due:
            self.write(t, r, c, {"client": c, "status": status, "repeats": count})
        if first:
            self.write(target, reason, client, {"client": client, "status": status})
        return over

    def _drain(self) -> list[tuple[tuple[str, str, str], int]]:
        pending = [(k, w.count) for k, w in self._windows.items() if w.count]
        self._windows.clear()
        return pending

    def flush(self) -> None:
        with self._lock:
            pending = self._drain()
        for (c, t, r), count in pending:
            self.write(t, r, c, {"client": c, "repeats": count})


class CallerGate:
    """ASGI middleware: resolve the caller before the app reads anything of the request.

    ``resolve(request, api)`` returns the principal or None; the principal is kept in
    ``scope["state"]["caller"]`` for the handlers, which then check roles as before."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resolve: Callable[[Request, bool], Any],
        refusals: RefusalLog,
    ) -> None:
        self.app = app
        self.resolve = resolve
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        api = path.startswith("/api/")
        request = Request(scope)
        principal = await run_in_threadpool(self.resolve, request, api)
        if principal is not None:
            scope.setdefault("state", {})["caller"] = principal
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        reason = "no_token" if api else "no_session"
        status = 401 if api else 303
        target = f"{scope.get('method', '')} {path}"[:500]
        over = await run_in_threadpool(self.refusals.refuse, client, target, reason, status)
        response: Response
        if over:
            response = _too_many(api)
        elif api:
            response = JSONResponse(
                {"error": reason, "message": "a valid API token is required"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        elif request.headers.get("sec-fetch-dest", "document") not in ("document", "iframe"):
            # A browser's own fetch (favicon, image, script): no sign-in page for it, which
            # would also hand out a fresh sign-in form behind the nurse's back.
            response = Response("sign in first", 401, media_type="text/plain")
        else:
            response = RedirectResponse(_login_url(scope), status_code=303)
        await response(scope, receive, send)


def _too_many(api: bool) -> Response:
    headers = {"Retry-After": str(int(WINDOW_S))}
    if api:
        return JSONResponse(
            {"error": "too_many_requests", "message": "too many requests without a credential"},
            429,
            headers=headers,
        )
    return Response("too many requests", 429, headers=headers, media_type="text/plain")


def _login_url(scope: Scope) -> str:
    """The sign-in page, remembering the page asked for (GET only: a form post cannot be
    replayed after sign-in) so that signing in again returns there."""
    path = scope.get("path", "")
    if scope.get("method") != "GET" or path in ("/", "/logout"):
        return "/login"
    query = scope.get("query_string", b"").decode("latin-1")
    target = path + (f"?{query}" if query else "")
    return "/login?next=" + quote(target, safe="")


def safe_next(target: str) -> str | None:
    """A local path to return to after sign-in, or None: never another host, a scheme or
    a protocol-relative URL (an open redirect)."""
    if not target or len(target) > 500 or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target) or is_public(target.split("?")[0]):
        return None
    return target
