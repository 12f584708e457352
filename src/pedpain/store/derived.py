"""The registry of what pedpain made from a child's data, so withdrawal can find it.

Every stage that writes a file derived from a subject's media or data (aligned faces,
packed shards, manifests, decrypted exports) registers it here::

    from pedpain.store import open_store, register_derived

    with open_store(settings) as store:
        register_derived(store, "PH-0007", out / "faces" / "PH-0007-T1_0003.png", "face",
                         stage="preprocess")

Kinds and what ``pedpain db withdraw`` does with them:

- ``manifest``: a CSV with one row per item; the child's rows are removed (the file is
  rewritten atomically); give ``subject_column`` (default ``subject_code``).
- ``shard``: a packed file mixing several children; it cannot be edited, so it is deleted
  and reported as needing a rebuild.
- anything else (``face``, ``clip``, ``export_media``, ``cache``...): the file, or the
  folder and everything under it, is deleted.

Models trained on a child's data are recorded with :func:`register_model_run`;
withdrawal lists them as affected (weights are not edited).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session as DbSession

import pedpain.store.audit as audit
from pedpain.core.errors import UsageError
from pedpain.store.models import DerivedArtifact, ModelRun, ModelRunSubject, Subject
from pedpain.store.store import Store

MANIFEST = "manifest"
SHARD = "shard"


@dataclass(frozen=True)
class Derived:
    """One registration: ``path`` is made absolute when stored."""

    subject_code: str
    path: Path
    kind: str
    subject_column: str | None = None
    stage: str | None = None


def register_derived(
    store: Store,
    subject_code: str,
    path: str | Path,
    kind: str,
    *,
    subject_column: str | None = None,
    stage: str | None = None,
) -> None:
    """Register one file or folder made from ``subject_code``'s data."""
    register_derived_many(store, [Derived(subject_code, Path(path), kind, subject_column, stage)])


def register_derived_many(store: Store, items: Iterable[Derived]) -> int:
    """Register many artefacts in one transaction (re-registering is harmless)."""
    rows = list(items)
    if not rows:
        return 0
    codes = sorted({r.subject_code for r in rows})
    with store.session() as db, db.begin():
        ids = _subject_ids(db, codes)
        unknown = [c for c in codes if c not in ids]
        if unknown:
            raise UsageError(f"unknown subject code(s): {', '.join(unknown[:5])}")
        wanted = {
            (ids[r.subject_code], str(Path(r.path).resolve())): r
            for r in rows  # the last registration of a path wins
        }
        existing: set[tuple[int, str]] = set()
        subject_ids = sorted({k[0] for k in wanted})
        for start in range(0, len(subject_ids), 500):
            chunk = subject_ids[start : start + 500]
            existing.update(
                db.execute(
                    select(DerivedArtifact.subject_id, DerivedArtifact.path).where(
                        DerivedArtifact.subject_id.in_(chunk)
                    )
                )
            )
        now = audit.now()
        new = [
            {
                "subject_id": sid,
                "path": path,
                "kind": r.kind,
                "subject_column": r.subject_column
                or ("subject_code" if r.kind == MANIFEST else None),
                "stage": r.stage,
                "created_at": now,
            }
            for (sid, path), r in wanted.items()
            if (sid, path) not in existing
        ]
        if new:
            db.execute(insert(DerivedArtifact), new)
        return len(new)


def unregister_under(store: Store, folder: Path) -> int:
    """Forget every registration at or under ``folder`` (before rewriting it)."""
    prefix = str(Path(folder).resolve())
    with store.session() as db, db.begin():
        result = db.execute(
            delete(DerivedArtifact).where(
                (DerivedArtifact.path == prefix)
                | DerivedArtifact.path.startswith(prefix.rstrip("/") + "/", autoescape=True)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def register_model_run(
    store: Store, name: str, subject_codes: Iterable[str], path: str | Path | None = None
) -> int:
    """Record a trained model and the subjects whose data it used; returns its id."""
    codes = sorted(set(subject_codes))
    with store.session() as db, db.begin():
        ids = _subject_ids(db, codes)
        run = ModelRun(
            name=name,
            path=str(Path(path).resolve()) if path is not None else None,
            created_at=audit.now(),
            withdrawn_subjects=0,
        )
        db.add(run)
        db.flush()
        if ids:
            db.execute(
                insert(ModelRunSubject),
                [{"model_run_id": run.id, "subject_id": sid} for sid in ids.values()],
            )
        audit.record(
            db,
            store.actor,
            "model_run.register",
            target=name,
            detail={"subjects": len(ids), "unknown_codes": len(codes) - len(ids)},
        )
        return run.id


def register_trained_model(
    store: Store, labels: str | Path, name: str, folder: str | Path, subject_codes: Iterable[str]
) -> int | None:
    """Record a model trained on a manifest this database exported (registered as a
    derived ``manifest``), so that withdrawing one of its children lists the model.

    Returns the model run's id (the existing one when this folder is registered
    already), or None when ``labels`` is not one of this database's exports."""
    labels_path = str(Path(labels).resolve())
    folder_path = str(Path(folder).resolve())
    with store.session() as db:
        exported = db.scalar(
            select(DerivedArtifact.id)
            .where(DerivedArtifact.path == labels_path, DerivedArtifact.kind == MANIFEST)
            .limit(1)
        )
        if exported is None:
            return None
        existing = db.scalar(select(ModelRun.id).where(ModelRun.path == folder_path).limit(1))
    if existing is not None:
        return int(existing)
    return register_model_run(store, name, subject_codes, folder_path)


def _subject_ids(db: DbSession, codes: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        out.update(
            (code, sid)
            for sid, code in db.execute(
                select(Subject.id, Subject.code).where(Subject.code.in_(chunk))
            )
        )
    return out
