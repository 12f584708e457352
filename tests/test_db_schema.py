"""Schema: `pedpain db init` creates or upgrades; models and migrations agree; the
database refuses to be used uninitialised; SQLite runs with WAL and foreign keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from db_fixtures import DbEnv
from pedpain.core.settings import load_settings
from pedpain.store import open_store
from pedpain.store.engine import database_url, head_revision, make_engine
from pedpain.store.models import Base


def test_init_creates_then_reports_up_to_date(dbenv: DbEnv, cli) -> None:
    r = cli("db", "init", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["action"] == "up_to_date" and doc["schema"] == head_revision()
    assert "password" not in doc["database"]


def test_models_match_migrations(dbenv: DbEnv) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with dbenv.open() as store, store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_commands_refuse_an_uninitialised_database(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("PEDPAIN_HOME", str(tmp_path / "fresh"))
    r = cli("db", "stats")
    assert r.code == 4
    assert "not initialised" in r.err and "pedpain db init" in r.err
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    r = cli("db", "init")
    assert r.code == 0 and "created" in r.out
    assert (tmp_path / "fresh" / "pedpain.db").is_file()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "h")
    with open_store(settings, init=True) as store, store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    assert database_url(settings).endswith(str((tmp_path / "h" / "pedpain.db").resolve()))


def test_unreachable_postgres_is_an_environment_problem(cli, monkeypatch) -> None:
    # Port 1 on localhost: nothing listens there.
    monkeypatch.setenv("PEDPAIN_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    r = cli("db", "init")
    assert r.code == 4
    assert "database unreachable" in r.err and "secret" not in r.err


def test_bare_postgres_url_uses_psycopg3() -> None:
    settings = load_settings(database_url="postgresql://u@h/db")
    assert database_url(settings) == "postgresql+psycopg://u@h/db"
    make_engine(database_url(settings)).dispose()


def test_unsupported_database_is_a_usage_error(cli, monkeypatch) -> None:
    monkeypatch.setenv("PEDPAIN_DATABASE_URL", "mysql://u@h/db")
    r = cli("db", "init")
    assert r.code == 2 and "unsupported database" in r.err


@pytest.mark.parametrize("command", ["init", "import", "stats", "export", "withdraw", "verify"])
def test_every_db_command_has_help_with_an_example(cli, command: str) -> None:
    r = cli("db", command, "--help")
    assert r.code == 0 and "Examples:" in r.out and f"pedpain db {command}" in r.out
