"""``pedpain serve``: the bedside and study web application."""

from __future__ import annotations

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
) -> None:
    """Serve the web app for nurses, raters, researchers and admins (research software,
    not a medical device). Put it behind HTTPS when it listens beyond this machine:
    cookies are Secure unless HOST is local (PEDPAIN_WEB_SECURE_COOKIES overrides).

    \b
    Examples:
      pedpain db init && pedpain users create --role admin alice
      pedpain serve --host 127.0.0.1 --port 8000
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import count_users
    from pedpain.web import create_app

    settings = settings_of(ctx)
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
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
