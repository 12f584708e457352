"""The audit log: every read or write of media or subject data leaves a row saying who
(the OS user or ``--actor``), what, when and why. Rows are never deleted, not even by a
consent withdrawal (whose own entry is what remains of the child)."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session as DbSession

from pedpain.store.models import AuditEntry

WITHDRAW_ACTION = "subject.withdraw"


def current_actor(actor: str | None = None) -> str:
    """``actor`` if given, else the operating-system user running pedpain."""
    if actor and actor.strip():
        return actor.strip()[:100]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name (some containers)
        return "unknown"


def now() -> datetime:
    return datetime.now().replace(microsecond=0)


def entry(
    actor: str,
    action: str,
    *,
    subject_code: str | None = None,
    target: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One audit row as a dict (for batch inserts)."""
    return {
        "at": at or now(),
        "actor": actor,
        "action": action,
        "subject_code": subject_code,
        "target": target,
        "reason": reason,
        "detail": json.dumps(detail, sort_keys=True, default=str) if detail else None,
    }


def record(db: DbSession, actor: str, action: str, **kwargs: Any) -> None:
    """Add one audit row to the caller's transaction."""
    db.execute(insert(AuditEntry), [entry(actor, action, **kwargs)])


def record_many(db: DbSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        db.execute(insert(AuditEntry), rows)


def withdrawn_codes(db: DbSession, codes: list[str] | None = None) -> set[str]:
    """Subject codes whose consent was withdrawn (they may never come back)."""
    query = select(AuditEntry.subject_code).where(AuditEntry.action == WITHDRAW_ACTION)
    if codes is not None:
        found: set[str] = set()
        for start in range(0, len(codes), 500):
            chunk = codes[start : start + 500]
            found.update(
                c for c in db.scalars(query.where(AuditEntry.subject_code.in_(chunk))) if c
            )
        return found
    return {c for c in db.scalars(query) if c}
