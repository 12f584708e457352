"""The :class:`Store`: one opened research database plus its media store and actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

import pedpain.store.audit as audit
from pedpain.core.errors import EnvironmentProblem
from pedpain.core.settings import Settings, load_settings
from pedpain.store.engine import (
    database_url,
    make_engine,
    migrate,
    redact,
    require_schema,
)
from pedpain.store.media import MediaKey, MediaStore, load_media_key
from pedpain.store.models import StoreMeta

MEDIA_DIR = "media"
KEY_ID_META = "media_key_id"


@dataclass
class Store:
    """An open research database. Use as a context manager or call :meth:`close`."""

    settings: Settings
    engine: Engine
    url: str
    actor: str
    _sessions: sessionmaker[DbSession] = field(init=False, repr=False)
    _media: MediaStore | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def home(self) -> Path:
        return Path(self.settings.home).resolve()

    @property
    def media_root(self) -> Path:
        return self.home / MEDIA_DIR

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        return redact(self.url)

    def session(self) -> DbSession:
        """A new ORM session (``with store.session() as db, db.begin(): ...``)."""
        return self._sessions()

    def audit(self, action: str, **kwargs: Any) -> None:
        """Record one audit entry in its own transaction."""
        with self.session() as db, db.begin():
            audit.record(db, self.actor, action, **kwargs)

    def media(self, *extra_keys: MediaKey) -> MediaStore:
        """The media store with the configured key (exit 4 without one).

        The key's public id is remembered in the database on first use; a different key
        later is refused, so media are never written under two keys by mistake.
        """
        if self._media is not None and not extra_keys:
            return self._media
        key = load_media_key(self.settings)
        with self.session() as db, db.begin():
            known = db.scalar(select(StoreMeta.value).where(StoreMeta.key == KEY_ID_META))
            if known is None:
                db.add(StoreMeta(key=KEY_ID_META, value=key.key_id))
            elif known != key.key_id and known not in {k.key_id for k in extra_keys}:
                raise EnvironmentProblem(
                    f"the configured media key (id {key.key_id}) is not this database's "
                    f"media key (id {known}): configure the key the media were stored with"
                )
        store = MediaStore(self.media_root, key, *extra_keys)
        if not extra_keys:
            self._media = store
        return store

    def set_key_id(self, key_id: str) -> None:
        with self.session() as db, db.begin():
            row = db.get(StoreMeta, KEY_ID_META)
            if row is None:
                db.add(StoreMeta(key=KEY_ID_META, value=key_id))
            else:
                row.value = key_id
        self._media = None

    def close(self) -> None:
        if self._media is not None:
            self._media.close()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    settings: Settings | None = None,
    *,
    actor: str | None = None,
    init: bool = False,
) -> Store:
    """Open the configured database (``settings`` default: environment and defaults).

    ``init=True`` creates or upgrades the schema first; otherwise a database that
    ``pedpain db init`` has not prepared is refused with exit code 4.
    """
    settings = settings or load_settings()
    url = database_url(settings)
    engine = make_engine(url)
    try:
        if init:
            migrate(engine)
        else:
            require_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(settings=settings, engine=engine, url=url, actor=audit.current_actor(actor))
