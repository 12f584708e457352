"""``pedpain db export-cohort --out DIR``: the database back in pedpain's import layout
(the folder ``pedpain db import`` reads), with decrypted media.

A cohort entered at the bedside (web app or API) can so move to another site's database
or be archived, and ``pedpain db import`` of the folder gives the same children, sessions,
ratings and labels: the import layout is the one format both ways. Voided sessions are
not written (``voided.csv`` lists them); sessions outside the protocol's assessment
window are left out unless asked for (the importer refuses them); values are written as
corrected. Every file is registered as derived from each child, so a later consent
withdrawal removes the child's rows and files here too.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pedpain import DISCLAIMER, __version__
from pedpain.clinical.eligibility import EXCLUSION_FACTS, check_assessment_time
from pedpain.core.errors import UsageError
from pedpain.store import audit
from pedpain.store.derived import MANIFEST, Derived
from pedpain.store.export import publish_staged, write_synced
from pedpain.store.layout import FORMAT, SUBJECT_COLUMNS, VERSION
from pedpain.store.models import Analgesic, Session, Subject
from pedpain.store.store import Store

# Every table carries subject_code so that withdrawal can strike a child's rows.
TABLES: dict[str, tuple[str, ...]] = {
    "subjects": (*SUBJECT_COLUMNS, "synthetic"),
    "consents": (
        "subject_code",
        "event",
        "date",
        "guardian_consent",
        "child_assent",
        "consent_version",
        "reason",
    ),
    "sessions": (
        "session_id",
        "subject_code",
        "time_point",
        "assessed_at",
        "hours_since_surgery",
        "bps_scale",
        "bps_score",
        "latent_pain",
    ),
    "media": (
        "session_id",
        "subject_code",
        "kind",
        "path",
        "sha256",
        "width",
        "height",
        "frames",
        "fps",
        "duration_s",
        "capture_device",
    ),
    "ratings": (
        "session_id",
        "subject_code",
        "rater_id",
        "rater_role",
        "scale",
        "raw_score",
        "blinded",
        "adjudication",
        "adjudication_reason",
    ),
    "self_reports": ("session_id", "subject_code", "scale", "raw_score"),
    "clinical": ("subject_code", "session_id", "drug", "dose_mg", "route", "given_at"),
    "voided": ("session_id", "subject_code", "voided_at", "voided_by", "reason"),
}


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(r.get(k)) for k in columns} for r in rows)
    return out.getvalue()


def export_cohort(
    store: Store,
    out: str | Path,
    *,
    include_deviations: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """Write the import-layout folder ``out`` (replacing an earlier one); its summary."""
    target = Path(out).resolve()
    earlier = (target / "cohort.json").is_file()
    if target.exists() and not earlier and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not an earlier cohort export: choose --out")
    with store.session() as db:
        subjects = list(
            db.scalars(
                select(Subject)
                .options(
                    selectinload(Subject.consents),
                    selectinload(Subject.sessions).selectinload(Session.media),
                    selectinload(Subject.sessions).selectinload(Session.ratings),
                    selectinload(Subject.sessions).selectinload(Session.self_reports),
                )
                .order_by(Subject.code)
            )
        )
        drugs = list(db.scalars(select(Analgesic).order_by(Analgesic.given_at)))
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    media = store.media()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    registrations: list[Derived] = []
    audit_rows: list[dict[str, Any]] = []
    deviations = 0
    try:
        exported_sessions: dict[int, str] = {}
        for s in subjects:
            tables["subjects"].append(
                {
                    "subject_code": s.code,
                    "sex": s.sex,
                    "birth_date": s.birth_date,
                    "age_months": s.age_months,
                    "gestational_age_weeks": s.gestational_age_weeks,
                    "group": s.group,
                    "surgery_type": s.surgery_type,
                    "surgery_start": s.surgery_start,
                    "surgery_end": s.surgery_end,
                    "synthetic": s.synthetic,
                    **{k: getattr(s, k) for k in EXCLUSION_FACTS},
                }
            )
            for c in sorted(s.consents, key=lambda c: (c.on_date, c.id)):
                tables["consents"].append(
                    {
                        "subject_code": s.code,
                        "event": c.event,
                        "date": c.on_date,
                        "guardian_consent": c.guardian_consent,
                        "child_assent": c.child_assent,
                        "consent_version": c.version,
                        "reason": c.reason,
                    }
                )
            n_items = 0
            for x in s.sessions:
                if x.voided_at is not None:
                    tables["voided"].append(
                        {
                            "session_id": x.code,
                            "subject_code": s.code,
                            "voided_at": x.voided_at,
                            "voided_by": x.voided_by,
                            "reason": x.void_reason,
                        }
                    )
                    continue
                if check_assessment_time(x.hours_since_surgery, s.group) is not None:
                    deviations += 1
                    if not include_deviations:
                        continue
                exported_sessions[x.id] = x.code
                tables["sessions"].append(
                    {
                        "session_id": x.code,
                        "subject_code": s.code,
                        "time_point": x.time_point,
                        "assessed_at": x.assessed_at,
                        "hours_since_surgery": x.hours_since_surgery,
                        "bps_scale": x.bps_scale,
                        "bps_score": x.bps_score,
                        "latent_pain": x.latent_pain,
                    }
                )
                for m in x.media:
                    rel = f"media/{s.code}/{x.code}/{m.slot}"
                    dest = tmp / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(media.read(m.sha256))
                    n_items += 1
                    tables["media"].append(
                        {
                            "session_id": x.code,
                            "subject_code": s.code,
                            "kind": m.kind,
                            "path": rel,
                            "sha256": m.sha256,
                            "width": m.width,
                            "height": m.height,
                            "frames": m.frames,
                            "fps": m.fps,
                            "duration_s": m.duration_s,
                            "capture_device": m.capture_device,
                        }
                    )
                for r in sorted(x.ratings, key=lambda r: (r.adjudication, r.id)):
                    tables["ratings"].append(
                        {
                            "session_id": x.code,
                            "subject_code": s.code,
                            "rater_id": r.rater,
                            "rater_role": r.role,
                            "scale": r.scale,
                            "raw_score": r.raw_score,
                            "blinded": r.blinded,
                            "adjudication": r.adjudication,
                            "adjudication_reason": r.adjudication_reason,
                        }
                    )
                for sr in x.self_reports:
                    tables["self_reports"].append(
                        {
                            "session_id": x.code,
                            "subject_code": s.code,
                            "scale": sr.scale,
                            "raw_score": sr.raw_score,
                        }
                    )
            for name in TABLES:
                registrations.append(
                    Derived(s.code, target / f"{name}.csv", MANIFEST, "subject_code")
                )
            registrations.append(
                Derived(s.code, target / "media" / s.code, "export_media", stage="export")
            )
            audit_rows.append(
                audit.entry(
                    store.actor,
                    "subject.export_media",
                    subject_code=s.code,
                    target=str(target),
                    reason=reason or "pedpain db export-cohort",
                    detail={"items": n_items, "layout": FORMAT},
                )
            )
        code_of = {s.id: s.code for s in subjects}
        for d in drugs:
            if d.session_id is not None and d.session_id not in exported_sessions:
                continue
            tables["clinical"].append(
                {
                    "subject_code": code_of.get(d.subject_id),
                    "session_id": exported_sessions.get(d.session_id) if d.session_id else None,
                    "drug": d.drug,
                    "dose_mg": d.dose_mg,
                    "route": d.route,
                    "given_at": d.given_at,
                }
            )
        for name, columns in TABLES.items():
            write_synced(tmp / f"{name}.csv", _csv(tables[name], columns))
        summary = {
            "format": FORMAT,
            "version": VERSION,
            "synthetic": any(s.synthetic for s in subjects),
            "generator": f"pedpain db export-cohort {__version__}",
            "created": audit.now().isoformat(),
            "out": str(target),
            "subjects": len(subjects),
            "sessions": len(tables["sessions"]),
            "media": len(tables["media"]),
            "ratings": len(tables["ratings"]),
            "voided_sessions": len(tables["voided"]),
            "deviation_sessions": deviations,
            "deviations_included": include_deviations,
            "disclaimer": DISCLAIMER,
        }
        write_synced(tmp / "cohort.json", json.dumps(summary, indent=2) + "\n")
        publish_staged(store, tmp, target, registrations)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with store.session() as db, db.begin():
        audit.record_many(db, audit_rows)
    return summary
