"""Consent withdrawal: erase a child's data everywhere pedpain put it; keep an audit entry.

Order matters for a killed run: files go first (media store, staging leftovers, every
registered derived artefact), then one database transaction deletes the subject (which
cascades to all its rows) and writes the audit entry. A rerun after a kill finds the
subject still there and finishes the job. The audit entry (action ``subject.withdraw``)
is also the tombstone that stops a later import from bringing the child back.

Each attempt first records a ``subject.withdraw.started`` entry with the number of the
child's media files present at that moment, so the final entry counts what was erased
across an interrupted and a resumed attempt (not only by the last one) and says how many
attempts it took.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text, update

import pedpain.store.audit as audit
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_text
from pedpain.core.logging import get_logger
from pedpain.store.derived import MANIFEST, SHARD
from pedpain.store.media import STAGING, media_path
from pedpain.store.models import (
    AuditEntry,
    DerivedArtifact,
    Media,
    ModelRun,
    ModelRunSubject,
    ScreeningRejection,
    Session,
    StoreMeta,
    Subject,
)
from pedpain.store.store import Store

log = get_logger(__name__)

#: Audit action written when an attempt starts erasing files (not a tombstone).
STARTED_ACTION = "subject.withdraw.started"


@dataclass
class WithdrawalReport:
    subject_code: str
    status: str  # withdrawn | already_withdrawn | recorded (never enrolled)
    media_files_deleted: int = 0  # across every attempt on this child
    attempts: int = 1
    artifacts: list[dict[str, str]] = field(default_factory=list)
    shards_to_rebuild: list[str] = field(default_factory=list)
    models_affected: list[dict[str, Any]] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_code": self.subject_code,
            "status": self.status,
            "media_files_deleted": self.media_files_deleted,
            "attempts": self.attempts,
            "artifacts": self.artifacts,
            "shards_to_rebuild": self.shards_to_rebuild,
            "models_affected": self.models_affected,
            "leftovers": self.leftovers,
            "seconds": round(self.seconds, 3),
        }


def withdraw_subject(
    store: Store,
    code: str,
    reason: str,
    *,
    source: str = "pedpain db withdraw",
    record_unknown: bool = False,
) -> WithdrawalReport:
    """Erase subject ``code``'s media, derived artefacts and rows; keep the audit entry.

    ``source`` is written to the audit entry only. A code the database has never seen
    (neither enrolled nor screened out) is refused unless ``record_unknown``: then the
    withdrawal is recorded so that a later import never brings the child back."""
    start = time.perf_counter()
    code = code.strip()
    if not reason or not reason.strip():
        raise UsageError("a withdrawal needs a reason (--reason)")
    with store.session() as db:
        subject = db.scalar(select(Subject).where(Subject.code == code))
        already = code in audit.withdrawn_codes(db, [code])
        screened = db.scalar(
            select(ScreeningRejection.id).where(ScreeningRejection.subject_code == code)
        )
    if subject is None:
        if already:
            return WithdrawalReport(code, "already_withdrawn", seconds=time.perf_counter() - start)
        if screened is None and not record_unknown:
            raise UsageError(f"no subject {code!r} in the database")
        # Screened out or never imported: record the tombstone so it never comes back.
        with store.session() as db, db.begin():
            db.execute(delete(ScreeningRejection).where(ScreeningRejection.subject_code == code))
            audit.record(
                db,
                store.actor,
                audit.WITHDRAW_ACTION,
                subject_code=code,
                reason=reason,
                detail={"source": source, "enrolled": False},
            )
        return WithdrawalReport(code, "recorded", seconds=time.perf_counter() - start)

    report = WithdrawalReport(code, "withdrawn")
    sid = subject.id
    with store.session() as db:
        shas = set(
            db.scalars(
                select(Media.sha256).join(Session).where(Session.subject_id == sid).distinct()
            )
        )
        shared = set(
            db.scalars(
                select(Media.sha256)
                .join(Session)
                .where(Media.sha256.in_(shas), Session.subject_id != sid)
                .distinct()
            )
        )
        artifacts = list(
            db.execute(
                select(DerivedArtifact.path, DerivedArtifact.kind, DerivedArtifact.subject_column)
                .where(DerivedArtifact.subject_id == sid)
                .order_by(DerivedArtifact.path)
            )
        )
        models = list(
            db.execute(
                select(ModelRun.id, ModelRun.name, ModelRun.path)
                .join(ModelRunSubject)
                .where(ModelRunSubject.subject_id == sid)
                .order_by(ModelRun.id)
            )
        )

    # 0. Count before erasing: an interrupted attempt's deletions still count in the end.
    erasable = [media_path(store.media_root, sha) for sha in sorted(shas - shared)]
    present = sum(path.exists() for path in erasable)
    with store.session() as db, db.begin():
        earlier = [
            json.loads(d) if d else {}
            for d in db.scalars(
                select(AuditEntry.detail)
                .where(AuditEntry.action == STARTED_ACTION, AuditEntry.subject_code == code)
                .order_by(AuditEntry.id)
            )
        ]
        report.attempts = len(earlier) + 1
        audit.record(
            db,
            store.actor,
            STARTED_ACTION,
            subject_code=code,
            reason=reason,
            detail={"attempt": report.attempts, "media_files_present": present},
        )
    present_at_first = int(earlier[0].get("media_files_present", present) if earlier else present)

    # 1. Files: the encrypted media (unless another subject has the same bytes).
    deleted_now = 0
    for path in erasable:
        if path.exists():
            path.unlink()
            deleted_now += 1
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty
    remaining = sum(path.exists() for path in erasable)
    report.media_files_deleted = max(deleted_now, present_at_first - remaining)
    staging = store.media_root / STAGING
    if staging.is_dir():
        for leftover in staging.glob("*/*"):
            if leftover.name.split(".")[0] in shas:
                leftover.unlink(missing_ok=True)

    # 2. Files: everything registered as derived from this child.
    for path_text, kind, column in artifacts:
        action = _erase_artifact(Path(path_text), kind, column or "subject_code", code)
        report.artifacts.append({"path": path_text, "kind": kind, "action": action})
        # A shard an interrupted attempt already deleted needs rebuilding just the same.
        if kind == SHARD and action in ("deleted", "already_gone"):
            report.shards_to_rebuild.append(path_text)
    edited = {Path(a["path"]).parent for a in report.artifacts if a["action"] == "rows_removed"}
    for export in sorted(edited):  # once per export, after all its tables are edited
        _refresh_export_summary(export)
    report.models_affected = [{"id": i, "name": n, "path": p} for i, n, p in models]

    # 3. Database: the subject and everything that cascades from it; the audit entry.
    with store.session() as db, db.begin():
        if models:
            db.execute(
                update(ModelRun)
                .where(ModelRun.id.in_([m[0] for m in models]))
                .values(withdrawn_subjects=ModelRun.withdrawn_subjects + 1)
            )
        db.execute(delete(Subject).where(Subject.id == sid))
        db.execute(delete(ScreeningRejection).where(ScreeningRejection.subject_code == code))
        # The child's settled train/test side (store/export.py) goes with the child.
        db.execute(delete(StoreMeta).where(StoreMeta.key == f"split:{code}"))
        audit.record(
            db,
            store.actor,
            audit.WITHDRAW_ACTION,
            subject_code=code,
            reason=reason,
            detail={
                "source": source,
                "enrolled": True,
                "media_files_deleted": report.media_files_deleted,
                "media_files_deleted_by_last_attempt": deleted_now,
                "attempts": report.attempts,
                "artifacts": len(report.artifacts),
                "shards_to_rebuild": report.shards_to_rebuild,
                "models_affected": [m["name"] for m in report.models_affected],
            },
        )
    if store.dialect == "sqlite":
        # Deleted rows may linger in the write-ahead log: fold it into the main file
        # (secure_delete zeroes them there) and truncate it.
        with store.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    report.leftovers = _leftovers(store, code)
    report.seconds = time.perf_counter() - start
    return report


def _erase_artifact(path: Path, kind: str, column: str, code: str) -> str:
    if not path.exists():
        return "already_gone"
    if kind == MANIFEST and path.is_file():
        return _drop_manifest_rows(path, column, code)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return "deleted"


def _drop_manifest_rows(path: Path, column: str, code: str) -> str:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if column not in fields:
            # We cannot tell the child's rows apart: remove the whole file to be safe.
            path.unlink()
            return "deleted"
        rows = [row for row in reader if row.get(column) != code]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())
    return "rows_removed"


def _refresh_export_summary(folder: Path) -> None:
    """Recount an export's ``export.json`` from its CSV files after rows were removed,
    so its counts describe what the folder now holds (no code is recorded)."""
    summary_path = folder / "export.json"
    if not summary_path.is_file():
        return
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(summary, dict):
        return

    def rows(name: str) -> list[dict[str, str]] | None:
        try:
            with (folder / name).open(encoding="utf-8", newline="") as handle:
                return list(csv.DictReader(handle))
        except OSError:
            return None

    items, subjects = rows("manifest.csv"), rows("subjects.csv")
    if items is not None:
        summary["items"] = len(items)
    if subjects is not None:
        summary["subjects"] = len(subjects)
        n_test = sum(1 for r in subjects if r.get("split") == "test")
        summary["train_subjects"] = len(subjects) - n_test
        summary["test_subjects"] = n_test
    summary["recounted_after_withdrawal"] = True
    atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")


def _leftovers(store: Store, code: str) -> list[str]:
    """Unregistered paths under the data root whose names carry the code (reported only:
    a name match is not proof enough to delete)."""
    home = store.home
    found: list[str] = []
    if not home.is_dir():
        return found
    prefixes = (code + "-", code + "_", code + ".")
    for root, dirs, files in os.walk(home):
        rel_root = Path(root).relative_to(home)
        if rel_root.parts[:1] == ("media",):
            dirs[:] = []
            continue
        for name in (*dirs, *files):
            if name == code or name.startswith(prefixes):
                found.append(str(Path(root) / name))
        if len(found) > 100:
            break
    return sorted(found)
