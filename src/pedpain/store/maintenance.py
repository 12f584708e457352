"""Integrity check, key rotation and a subject's timeline."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.files import sweep_temporaries
from pedpain.core.progress import track
from pedpain.store.media import (
    MEDIA_REWRITE_TEMPORARY,
    STAGING,
    MediaIntegrityError,
    MediaKey,
    MediaStore,
    load_media_key,
)
from pedpain.store.models import Base, DerivedArtifact, Media, Session, StoreMeta, Subject
from pedpain.store.store import KEY_ID_META, Store


def verify_store(
    store: Store, *, deep: bool = True, remove_orphans: bool = False
) -> dict[str, Any]:
    """Find media rows whose file is missing, files that were altered (decrypt + checksum,
    unless ``deep`` is off) and orphaned files nobody references; optionally delete the
    orphans. Registered derived artefacts that no longer exist are listed as stale."""
    start = time.perf_counter()
    with store.session() as db:
        rows = db.execute(select(Media.sha256, Session.code, Media.slot).join(Session))
        where: dict[str, list[str]] = defaultdict(list)
        for sha, session_code, slot in rows:
            where[sha].append(f"{session_code}/{slot}")
        derived = list(db.execute(select(DerivedArtifact.path, DerivedArtifact.kind)))
        subject_count = len(list(db.scalars(select(Subject.id))))
    media = store.media() if deep and where else None
    root = store.media_root
    missing, altered, orphans = [], [], []
    key_ids: Counter[str] = Counter()
    stored = {sha: path for sha, path in MediaStore.iter_stored_at(root)}
    for sha in track(sorted(where), "verifying media", total=len(where)):
        path = stored.get(sha)
        if path is None:
            missing.append({"sha256": sha, "items": where[sha]})
            continue
        key_ids[MediaStore.key_id_of(path) or "unknown"] += 1
        if media is not None:
            try:
                media.decrypt(path.read_bytes(), sha)
            except MediaIntegrityError as exc:
                altered.append({"sha256": sha, "items": where[sha], "problem": str(exc)})
    for sha, path in stored.items():
        if sha not in where:
            orphans.append(str(path))
    strays = [str(p) for p in MediaStore.stray_files_at(root)]
    staging = root / STAGING
    staging_files = [str(p) for p in staging.rglob("*") if p.is_file()] if staging.is_dir() else []
    removed = 0
    if remove_orphans:
        for p in orphans + strays:
            Path(p).unlink(missing_ok=True)
            removed += 1
    stale = sorted({p for p, _ in derived if not Path(p).exists()})
    problems = len(missing) + len(altered) + (0 if remove_orphans else len(orphans) + len(strays))
    doc = {
        "database": store.describe(),
        "media_root": str(root),
        "subjects": subject_count,
        "media_rows": sum(len(v) for v in where.values()),
        "files_expected": len(where),
        "files_stored": len(stored),
        "checked_content": media is not None,
        "key_ids": dict(key_ids),
        "missing": missing,
        "altered": altered,
        "orphaned": orphans + strays,
        "orphans_removed": removed,
        "staging_leftovers": staging_files,
        "stale_registrations": stale,
        "problems": problems,
        "ok": problems == 0,
        "seconds": round(time.perf_counter() - start, 3),
    }
    store.audit(
        "media.verify",
        reason="pedpain db verify",
        detail={
            "files_expected": len(where),
            "missing": len(missing),
            "altered": len(altered),
            "orphaned": len(orphans) + len(strays),
            "orphans_removed": removed,
        },
    )
    return doc


def rotate_key(store: Store, new_key: MediaKey) -> dict[str, Any]:
    """Re-encrypt every stored file under ``new_key``; rerun to finish a killed rotation.

    The configured key (``PEDPAIN_KEY_FILE``/``PEDPAIN_MEDIA_KEY``) must be the store's
    current key, or already the new one. When done, point the configuration at the new key.
    """
    start = time.perf_counter()
    old_key = load_media_key(store.settings)
    if old_key.key_id == new_key.key_id:
        raise UsageError("the new key is the key already in use")
    with store.session() as db:
        known = db.scalar(select(StoreMeta.value).where(StoreMeta.key == KEY_ID_META))
    if known not in (None, old_key.key_id, new_key.key_id):
        raise EnvironmentProblem(
            f"the configured media key (id {old_key.key_id}) is not this database's key "
            f"(id {known}): configure the current key, then rotate"
        )
    media = MediaStore(store.media_root, new_key, old_key)
    # A killed rotation may have left a half-written re-encryption beside its file.
    sweep_temporaries(store.media_root, (MEDIA_REWRITE_TEMPORARY,), recursive=True)
    rewritten = already = 0
    failed: list[dict[str, str]] = []
    files = list(MediaStore.iter_stored_at(store.media_root))
    for sha, path in track(files, "re-encrypting", total=len(files)):
        if MediaStore.key_id_of(path) == new_key.key_id:
            already += 1
            continue
        try:
            media.rewrite(sha, media.read(sha))
            rewritten += 1
        except (MediaIntegrityError, EnvironmentProblem) as exc:
            failed.append({"file": str(path), "problem": str(exc)})
    if not failed:
        store.set_key_id(new_key.key_id)
    doc = {
        "old_key_id": old_key.key_id,
        "new_key_id": new_key.key_id,
        "files": len(files),
        "rewritten": rewritten,
        "already_new": already,
        "failed": failed,
        "complete": not failed,
        "seconds": round(time.perf_counter() - start, 3),
    }
    store.audit(
        "media.rotate_key",
        reason="pedpain db rotate-key",
        detail={k: v for k, v in doc.items() if k != "failed"} | {"failed": len(failed)},
    )
    return doc


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def subject_timeline(store: Store, code: str, *, reason: str | None = None) -> dict[str, Any]:
    """Everything recorded about one child, in time order (an audited read).

    Plain Core queries (one per table, all by indexed keys): this is the query a study
    coordinator runs all day, and the ORM's object bookkeeping would triple its cost.
    """
    t = Base.metadata.tables
    subject_t = t["subject"]
    with store.session() as db:
        subject = db.execute(select(subject_t).where(subject_t.c.code == code)).mappings().first()
        if subject is None:
            raise UsageError(f"no subject {code!r} in the database")
        sid = subject["id"]

        def rows(name: str, key: Any, value: Any, order: str) -> list[Any]:
            table = t[name]
            query = select(table).where(key(table).in_(value) if isinstance(value, list)
                                        else key(table) == value)  # fmt: skip
            return list(db.execute(query.order_by(table.c[order])).mappings())

        consents = rows("consent", lambda x: x.c.subject_id, sid, "on_date")
        sessions = rows("session", lambda x: x.c.subject_id, sid, "assessed_at")
        ids = [s["id"] for s in sessions]
        by_session: dict[str, dict[int, list[Any]]] = {}
        for name, order in (("media", "slot"), ("rating", "rater"), ("self_report", "scale")):
            grouped: dict[int, list[Any]] = defaultdict(list)
            for row in rows(name, lambda x: x.c.session_id, ids, order) if ids else []:
                grouped[row["session_id"]].append(row)
            by_session[name] = grouped
        analgesics = rows("analgesic", lambda x: x.c.subject_id, sid, "given_at")
    doc = {
        "subject_code": subject["code"],
        "synthetic": subject["synthetic"],
        "group": subject["group"],
        "sex": subject["sex"],
        "age_months": subject["age_months"],
        "gestational_age_weeks": subject["gestational_age_weeks"],
        "surgery": {
            "type": subject["surgery_type"],
            "start": _iso(subject["surgery_start"]),
            "end": _iso(subject["surgery_end"]),
            "hours": subject["surgery_hours"],
        },
        "consents": [
            {
                "event": c["event"],
                "date": _iso(c["on_date"]),
                "guardian_consent": c["guardian_consent"],
                "child_assent": c["child_assent"],
                "version": c["version"],
            }
            for c in consents
        ],
        "sessions": [
            {
                "session_id": s["code"],
                "time_point": s["time_point"],
                "assessed_at": _iso(s["assessed_at"]),
                "hours_since_surgery": s["hours_since_surgery"],
                "consensus": s["consensus_score"],
                "rater_spread": s["rater_spread"],
                "needs_adjudication": s["needs_adjudication"],
                "bps": {
                    "scale": s["bps_scale"],
                    "score": s["bps_score"],
                    "normalised": s["bps_normalised"],
                },
                "ratings": [
                    {
                        "rater": r["rater"],
                        "role": r["role"],
                        "scale": r["scale"],
                        "raw_score": r["raw_score"],
                        "normalised": r["normalised"],
                        "blinded": r["blinded"],
                    }
                    for r in by_session["rating"][s["id"]]
                ],
                "self_reports": [
                    {
                        "scale": r["scale"],
                        "raw_score": r["raw_score"],
                        "normalised": r["normalised"],
                    }
                    for r in by_session["self_report"][s["id"]]
                ],
                "media": [
                    {
                        "file": m["slot"],
                        "kind": m["kind"],
                        "sha256": m["sha256"],
                        "width": m["width"],
                        "height": m["height"],
                        "warning": m["warning"],
                    }
                    for m in by_session["media"][s["id"]]
                ],
            }
            for s in sessions
        ],
        "analgesics": [
            {
                "drug": a["drug"],
                "dose_mg": a["dose_mg"],
                "route": a["route"],
                "given_at": _iso(a["given_at"]),
            }
            for a in analgesics
        ],
    }
    store.audit("subject.read", subject_code=code, reason=reason or "timeline")
    return doc
