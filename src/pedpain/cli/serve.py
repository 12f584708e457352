"""``pedpain serve``: the bedside and study web application."""

from __future__ import annotations

from typing import Any

import typer

from pedpain.cli.common import settings_of
from pedpain.core.errors import EnvironmentProblem, UsageError


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port.", min=1, max=65535),
    engines: int = typer.Option(
        1, "--engines", min=1, max=16, help="Assessment engines loaded in parallel."
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are trusted "
        "(comma-separated addresses or networks, e.g. 127.0.0.1 or 10.0.0.0/24). Without "
        "it every client behind a proxy shares the proxy's address "
        "(PEDPAIN_WEB_FORWARDED_ALLOW_IPS).",
    ),
) -> None:
    """Serve the web app for nurses, raters, researchers and admins (research software,
    not a medical device). Put it behind HTTPS when it listens beyond this machine:
    cookies are Secure unless HOST is local (PEDPAIN_WEB_SECURE_COOKIES overrides).

    Exit codes: 0 stopped cleanly; 1 bug; 2 bad usage; 4 environment problem (database,
    port, media key).

    \b
    Examples:
      pedpain db init && pedpain users create --role admin alice
      pedpain serve --host 127.0.0.1 --port 8000
      pedpain serve --host 127.0.0.1 --forwarded-allow-ips 127.0.0.1   # behind nginx
    \b
    Exit codes: 0 stopped, 2 no users yet / bad option, 4 database or uvicorn missing.
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import count_users
    from pedpain.web import create_app

    settings = settings_of(ctx)
    trusted = (
        forwarded_allow_ips if forwarded_allow_ips is not None else settings.web_forwarded_allow_ips
    )
    store = open_store(settings, actor="web")
    if count_users(store) == 0:
        store.close()
        raise UsageError(
            "no users yet: create the first admin with `pedpain users create --role admin USERNAME`"
        )
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - a dependency
        raise EnvironmentProblem("uvicorn is missing: pip install uvicorn") from None
    app = create_app(settings, host=host, store=store, engines=engines)
    typer.echo(f"pedpain web app on http://{host}:{port}/ (Ctrl+C stops)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", **proxy_options(trusted))


def proxy_options(trusted: str) -> dict[str, Any]:
    """uvicorn's proxy-header handling: on only for the proxies named, so that a client
    cannot forge its address by sending X-Forwarded-For itself."""
    trusted = ",".join(part.strip() for part in trusted.split(",") if part.strip())
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}
