"""Opening the research database: URL resolution, engine set-up, migrations.

SQLite is the embedded default (``PEDPAIN_HOME/pedpain.db``, WAL journal, foreign keys
on, deleted content overwritten); PostgreSQL is used when ``database_url`` (env
``PEDPAIN_DATABASE_URL``) names it. Both run the same models and migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.settings import Settings

DB_FILE = "pedpain.db"
_MIGRATIONS = "pedpain.store:migrations"


def database_url(settings: Settings) -> str:
    """The URL to use: ``database_url`` if set, else SQLite in ``home``."""
    if settings.database_url:
        url = settings.database_url.strip()
        # A bare postgresql:// URL means our pinned driver, psycopg 3.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{(Path(settings.home) / DB_FILE).resolve()}"


def redact(url: str) -> str:
    """The URL without its password, for messages and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers work while an import writes; foreign keys make deletes cascade;
    # secure_delete overwrites a withdrawn child's rows instead of leaving them in free
    # pages; busy_timeout waits for a concurrent writer instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the folder is created and pragmas set."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(f"not a database URL: {redact(url)!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EnvironmentProblem(f"cannot create the data folder: {exc}") from None
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend != "postgresql":
        raise UsageError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ImportError, ModuleNotFoundError) as exc:
        raise EnvironmentProblem(
            f"PostgreSQL driver missing ({exc}): pip install psycopg"
        ) from None
    except SQLAlchemyError as exc:
        raise EnvironmentProblem(f"cannot use database {redact(url)}: {exc}") from None


def check_reachable(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise EnvironmentProblem(
            f"database unreachable ({redact(str(engine.url))}): {first}"
        ) from None


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision; returns (before, after)."""
    from alembic import command

    check_reachable(engine)
    before = current_revision(engine)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    return before, head_revision()


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database that ``pedpain db init`` has not prepared."""
    check_reachable(engine)
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = redact(str(engine.url))
    if current is None:
        raise EnvironmentProblem(f"database {where} is not initialised: run `pedpain db init`")
    from alembic.script import ScriptDirectory

    known = {
        s.revision for s in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()
    }
    if current not in known:
        raise EnvironmentProblem(
            f"database {where} was made by a newer pedpain (schema {current}): upgrade pedpain"
        )
    raise EnvironmentProblem(
        f"database {where} has an older schema ({current}): run `pedpain db init` to upgrade"
    )
