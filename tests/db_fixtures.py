"""Database fixtures: every test that takes ``dbenv`` runs twice, on SQLite (in the test's
PEDPAIN_HOME) and on PostgreSQL (a fresh database on the server named by
``PEDPAIN_TEST_POSTGRES_URL``, which .ci/run starts). In CI (``CI`` set) a missing or
unreachable PostgreSQL fails those tests; locally they are skipped with the reason."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pedpain.core.settings import Settings, load_settings
from pedpain.store import Store, open_store, write_new_key

POSTGRES_ENV = "PEDPAIN_TEST_POSTGRES_URL"
# Read once at import: the suite's autouse fixture clears PEDPAIN_* from each test's env.
_ADMIN_URL = os.environ.get(POSTGRES_ENV) or None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}")
    pytest.skip(f"PostgreSQL not available ({reason}); set {POSTGRES_ENV} to run these")


@pytest.fixture(scope="session")
def _postgres_admin() -> str | None:
    return _ADMIN_URL


@pytest.fixture
def postgres_url(_postgres_admin: str | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    if not _postgres_admin:
        _unavailable(f"{POSTGRES_ENV} is not set")
    assert _postgres_admin is not None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    admin = make_url(_postgres_admin)
    name = f"pedpain_t_{secrets.token_hex(6)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        engine.dispose()
        _unavailable(f"cannot reach {admin.render_as_string()}: {str(exc.orig).strip()}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@dataclass
class DbEnv:
    """One test's data root, database and media key, also set in the environment (so the
    CLI fixture sees them)."""

    backend: str
    home: Path
    url: str | None
    key_file: Path

    def settings(self) -> Settings:
        return load_settings()

    def open(self, *, actor: str | None = "tester", init: bool = False) -> Store:
        return open_store(self.settings(), actor=actor, init=init)


@pytest.fixture(params=["sqlite", "postgresql"])
def dbenv(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DbEnv]:
    """An initialised empty research database on each backend."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("PEDPAIN_DATABASE_URL", url)
    home = tmp_path / "home"
    monkeypatch.setenv("PEDPAIN_HOME", str(home))
    key_file = tmp_path / "keys" / "media.key"
    write_new_key(key_file)
    monkeypatch.setenv("PEDPAIN_KEY_FILE", str(key_file))
    env = DbEnv(request.param, home, url, key_file)
    with env.open(init=True):
        pass
    yield env
