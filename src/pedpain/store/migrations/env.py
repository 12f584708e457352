"""Alembic environment: pedpain runs migrations programmatically on a connection it opened
(``pedpain.store.engine.migrate``); there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from pedpain.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode rebuilds tables in later migrations.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
