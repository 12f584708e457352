"""The FastAPI application: ``create_app(settings)``. Pages (server-rendered, Jinja2)
live in :mod:`pedpain.web.pages`, the JSON API in :mod:`pedpain.web.api`."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import IntegrityError

from pedpain import DISCLAIMER, __version__
from pedpain.core.errors import PedpainError
from pedpain.core.settings import Settings
from pedpain.store import Store, open_store
from pedpain.study.errors import http_of
from pedpain.web.engines import EnginePool
from pedpain.web.security import (
    LOCAL_HOSTS,
    LimitBody,
    Refused,
    WebConfig,
    security_headers,
)

HERE = Path(__file__).parent


def web_config(settings: Settings, host: str | None) -> WebConfig:
    secure = settings.web_secure_cookies
    if secure is None:
        secure = host not in LOCAL_HOSTS
    return WebConfig(
        secure_cookies=bool(secure),
        idle_minutes=settings.web_idle_minutes,
        max_upload_bytes=int(settings.web_max_upload_mb * 1024 * 1024),
        login_backoff_s=settings.web_login_backoff_s,
    )


def create_app(
    settings: Settings,
    *,
    host: str | None = None,
    store: Store | None = None,
    engines: int = 1,
) -> FastAPI:
    """The web app over the configured database (which ``pedpain db init`` prepared).

    ``host`` is where it will listen: cookies get the Secure flag unless it is a local
    address (override with ``PEDPAIN_WEB_SECURE_COOKIES``)."""
    from pedpain.web import api, pages

    store = store or open_store(settings, actor="web")
    config = web_config(settings, host)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        _app.state.engines.close()

    app = FastAPI(
        lifespan=lifespan,
        title="pedpain",
        version=__version__,
        description=DISCLAIMER,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served behind sign-in by the API router
    )
    app.state.settings = settings
    app.state.store = store
    app.state.config = config
    app.state.engines = EnginePool(settings, size=engines)
    app.state.login_secret = secrets.token_bytes(32)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(disclaimer=DISCLAIMER, version=__version__)
    app.state.templates = templates

    def on_too_large(scope: Any, size: int) -> None:
        client = (scope.get("client") or ("unknown",))[0]
        store.audit(
            "web.refused",
            target=str(scope.get("path", ""))[:500],
            reason="upload_too_large",
            detail={"bytes": size, "limit": config.max_upload_bytes, "client": client},
        )

    app.add_middleware(LimitBody, limit=config.max_upload_bytes + 64 * 1024, on_refuse=on_too_large)
    app.middleware("http")(security_headers)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        principal = getattr(request.state, "principal", None)
        store.audit(
            "web.refused",
            target=f"{request.method} {request.url.path}"[:500],
            reason=exc.reason,
            detail={
                "client": request.client.host if request.client else "unknown",
                "user": principal.username if principal else None,
                "role": principal.role if principal else None,
                "status": exc.status,
            },
        )
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        if request.url.path.startswith("/api/"):
            if exc.status == 401:
                headers["WWW-Authenticate"] = "Bearer"
            return JSONResponse(
                {"error": exc.reason, "message": exc.message}, exc.status, headers=headers
            )
        if exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"principal": principal, "status": exc.status, "message": exc.message},
            status_code=exc.status,
            headers=headers,
        )

    @app.exception_handler(PedpainError)
    async def rule_refused(request: Request, exc: PedpainError) -> Response:
        # A study rule's refusal that a handler did not map itself: its own status.
        status, code = http_of(exc)
        return await refused(request, Refused(status, code, exc.message))

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        # The contract's error body, not FastAPI's default {"detail": [...]}.
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return await refused(request, Refused(422, "bad_input", message))

    @app.exception_handler(IntegrityError)
    async def duplicate(request: Request, exc: IntegrityError) -> Response:
        # The study layer turns known races into 409s; this catches any other one, so
        # that two identical submissions at once never surface as a 500.
        return await refused(
            request,
            Refused(409, "conflict", "this was already recorded by a simultaneous request"),
        )

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return await refused(request, Refused(404, "not_found", "no such page"))

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return await refused(request, Refused(405, "method_not_allowed", "not allowed"))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> HTMLResponse:
        return HTMLResponse("ok")

    return app
