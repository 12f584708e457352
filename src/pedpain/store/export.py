"""``pedpain db export --out DIR``: the training manifest, optionally with decrypted media.

DIR gets (all written under a temporary name and swapped in whole):

- ``manifest.csv``: one row per photo or clip (columns in :data:`MANIFEST_COLUMNS`);
- ``subjects.csv``: one row per child: its split, fold and strata;
- ``export.json``: what this export is (counts, split settings, synthetic flag);
- ``media/<subject>/<session>/<file>`` with ``--with-media`` only (decrypted copies).

Splits are by child, never by image: all of a child's items share ``split`` and
``fold``. The 80/20 ``split`` (train/test) and the k ``fold`` column (0..k-1, for
cross-validation over all children) are both stratified by age band and pain level (the
child's highest consensus score). No identity leaves the database: subjects appear by
pseudonymous code, ages in months, no dates of birth or clock times.

Everything written is registered as derived from each child (``derived_artifact``), so a
later consent withdrawal removes the child's rows and files from the export too.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

import pedpain.store.audit as audit
from pedpain import DISCLAIMER, __version__
from pedpain.clinical.consensus import pain_level
from pedpain.clinical.eligibility import age_band, check_assessment_time
from pedpain.core.errors import UsageError
from pedpain.core.files import sweep_temporaries
from pedpain.core.progress import track
from pedpain.store.derived import MANIFEST, Derived, register_derived_many, unregister_under
from pedpain.store.models import Session, Subject
from pedpain.store.store import Store

EXPORT_FORMAT = "pedpain-oapc-manifest"
EXPORT_VERSION = 1

MANIFEST_COLUMNS = (
    "item_id",
    "subject_code",
    "session_id",
    "time_point",
    "kind",
    "file",
    "path",
    "sha256",
    "width",
    "height",
    "frames",
    "fps",
    "duration_s",
    "age_months",
    "age_band",
    "sex",
    "group",
    "hours_since_surgery",
    "label",
    "pain_level",
    "n_ratings",
    "rater_spread",
    "needs_adjudication",
    "bps_scale",
    "bps_score",
    "bps_normalised",
    "self_report",
    "latent_pain",
    "synthetic",
    "split",
    "fold",
)
#: voided.csv: sessions voided by a correction (kept in the database, never exported).
VOIDED_COLUMNS = ("session_id", "subject_code", "voided_at", "voided_by", "reason")
SUBJECT_COLUMNS = (
    "subject_code",
    "split",
    "fold",
    "age_band",
    "pain_level",
    "sex",
    "group",
    "sessions",
    "items",
)


@dataclass(frozen=True)
class Assignment:
    split: str  # train | test
    fold: int


def assign_splits(
    strata: dict[str, str], *, test_fraction: float = 0.2, folds: int = 5, seed: int = 0
) -> dict[str, Assignment]:
    """Subject-wise, stratified, deterministic split and folds.

    Children are ordered by stratum, then by a seeded hash of their code; walking that
    order, every ``1/test_fraction``-th child goes to test and folds are dealt in turn, so
    each stratum is spread over test/train and over the folds in proportion.
    """
    if not 0 < test_fraction < 1:
        raise UsageError("--test-fraction must be between 0 and 1")
    if folds < 2:
        raise UsageError("--folds must be 2 or more")

    def order(code: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{seed}:{code}".encode()).hexdigest()
        return strata[code], digest

    out: dict[str, Assignment] = {}
    for i, code in enumerate(sorted(strata, key=order)):
        # Largest-remainder rule: test when the running quota passes a whole number.
        is_test = int((i + 1) * test_fraction + 0.5) > int(i * test_fraction + 0.5)
        out[code] = Assignment("test" if is_test else "train", i % folds)
    return out


SPLIT_META = "split:"  # store_meta key prefix: a child's train/test side, once chosen


def settle_splits(
    store: Store, proposed: dict[str, Assignment]
) -> tuple[dict[str, Assignment], dict[str, int]]:
    """Train/test once and for ever: a child keeps the side its first export gave it
    (kept in ``store_meta``), and a child of the prospective cohort (any bedside AI
    assessment) goes to test the first time it is exported, so a child used to validate
    a model is never trained on by a later challenger validated on that child. Folds are
    still dealt afresh (they only matter within the training side)."""
    from pedpain.store.accounts import AiAssessment
    from pedpain.store.models import StoreMeta

    counts = {"kept": 0, "cohort_to_test": 0, "new": 0}
    with store.session() as db, db.begin():
        stored = {
            row.key.removeprefix(SPLIT_META): row.value
            for row in db.scalars(select(StoreMeta).where(StoreMeta.key.like(SPLIT_META + "%")))
        }
        cohort = set(
            db.scalars(
                select(Subject.code)
                .join(Session, Session.subject_id == Subject.id)
                .where(Session.id.in_(select(AiAssessment.session_id)))
            )
        )
        settled: dict[str, Assignment] = {}
        for code, a in proposed.items():
            side = stored.get(code)
            if side in ("train", "test"):
                counts["kept"] += 1
            elif code in cohort:
                side = "test"
                counts["cohort_to_test"] += 1
            else:
                side = a.split
                counts["new"] += 1
            if code not in stored:
                db.add(StoreMeta(key=SPLIT_META + code, value=side))
            settled[code] = Assignment(side, a.fold)
    return settled, counts


def export_manifest(
    store: Store,
    out: str | Path,
    *,
    with_media: bool = False,
    test_fraction: float = 0.2,
    folds: int = 5,
    seed: int = 0,
    reason: str | None = None,
    include_deviations: bool = False,
) -> dict[str, Any]:
    """Write the export folder ``out`` (replacing an earlier export there); returns its
    summary (also written as ``export.json``).

    Voided sessions are never exported as rows; they are listed in ``voided.csv``.
    Sessions outside the protocol's assessment window (deviations) are left out unless
    ``include_deviations``. Corrected values are exported as corrected."""
    target = Path(out).resolve()
    earlier = (target / "export.json").is_file()
    if target.exists() and not earlier and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not an earlier pedpain export: choose --out")
    with store.session() as db:
        subjects = list(
            db.scalars(
                select(Subject)
                .options(
                    selectinload(Subject.sessions).selectinload(Session.media),
                    selectinload(Subject.sessions).selectinload(Session.self_reports),
                )
                .order_by(Subject.code)
            )
        )
    voided_rows = [
        {
            "session_id": x.code,
            "subject_code": s.code,
            "voided_at": x.voided_at.isoformat() if x.voided_at else "",
            "voided_by": x.voided_by,
            "reason": x.void_reason,
        }
        for s in subjects
        for x in s.sessions
        if x.voided_at is not None
    ]
    deviations = 0

    def exported(s: Subject, x: Session) -> bool:
        nonlocal deviations
        if x.voided_at is not None:
            return False
        if check_assessment_time(x.hours_since_surgery, s.group) is not None:
            deviations += 1
            return include_deviations
        return True

    kept = {s.code: [x for x in s.sessions if exported(s, x)] for s in subjects}
    strata: dict[str, str] = {}
    for s in subjects:
        scores = [x.consensus_score for x in kept[s.code] if x.consensus_score is not None]
        strata[s.code] = f"{age_band(s.age_months)}|{pain_level(max(scores) if scores else None)}"
    splits = assign_splits(strata, test_fraction=test_fraction, folds=folds, seed=seed)
    splits, settled = settle_splits(store, splits)

    target.parent.mkdir(parents=True, exist_ok=True)
    # A killed export of this folder left its staging folder (decrypted media included).
    sweep_temporaries(target.parent, (f".{glob.escape(target.name)}.*.tmp",))
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    media = store.media() if with_media else None
    items = 0
    audit_rows: list[dict[str, Any]] = []
    registrations: list[Derived] = []
    try:
        manifest = io.StringIO()
        writer = csv.DictWriter(manifest, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        subject_rows = []
        for s in track(subjects, "exporting", total=len(subjects)):
            a = splits[s.code]
            n_items = 0
            for sess in kept[s.code]:
                self_reports = [r.normalised for r in sess.self_reports]
                for m in sess.media:
                    rel = f"media/{s.code}/{sess.code}/{m.slot}" if media is not None else ""
                    if media is not None:
                        dest = tmp / rel
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        dest.write_bytes(media.read(m.sha256))
                    writer.writerow(
                        {
                            "item_id": f"{sess.code}/{m.slot}",
                            "subject_code": s.code,
                            "session_id": sess.code,
                            "time_point": sess.time_point,
                            "kind": m.kind,
                            "file": m.slot,
                            "path": rel,
                            "sha256": m.sha256,
                            "width": m.width,
                            "height": m.height,
                            "frames": m.frames,
                            "fps": m.fps,
                            "duration_s": m.duration_s,
                            "age_months": s.age_months,
                            "age_band": age_band(s.age_months),
                            "sex": s.sex,
                            "group": s.group,
                            "hours_since_surgery": sess.hours_since_surgery,
                            "label": _round(sess.consensus_score),
                            "pain_level": pain_level(sess.consensus_score),
                            "n_ratings": sess.n_ratings,
                            "rater_spread": _round(sess.rater_spread),
                            "needs_adjudication": int(sess.needs_adjudication),
                            "bps_scale": sess.bps_scale,
                            "bps_score": sess.bps_score,
                            "bps_normalised": _round(sess.bps_normalised),
                            "self_report": _round(
                                sum(self_reports) / len(self_reports) if self_reports else None
                            ),
                            "latent_pain": sess.latent_pain,
                            "synthetic": int(s.synthetic),
                            "split": a.split,
                            "fold": a.fold,
                        }
                    )
                    n_items += 1
            items += n_items
            subject_rows.append(
                {
                    "subject_code": s.code,
                    "split": a.split,
                    "fold": a.fold,
                    "age_band": age_band(s.age_months),
                    "pain_level": strata[s.code].split("|")[1],
                    "sex": s.sex,
                    "group": s.group,
                    "sessions": len(kept[s.code]),
                    "items": n_items,
                }
            )
            for name in ("manifest.csv", "subjects.csv", "voided.csv"):
                registrations.append(Derived(s.code, target / name, MANIFEST, "subject_code"))
            if media is not None:
                registrations.append(
                    Derived(s.code, target / "media" / s.code, "export_media", stage="export")
                )
            audit_rows.append(
                audit.entry(
                    store.actor,
                    "subject.export_media" if media is not None else "subject.export",
                    subject_code=s.code,
                    target=str(target),
                    reason=reason or "pedpain db export",
                    detail={"items": n_items},
                )
            )
        write_synced(tmp / "manifest.csv", manifest.getvalue())
        subjects_csv = io.StringIO()
        sw = csv.DictWriter(subjects_csv, fieldnames=SUBJECT_COLUMNS, lineterminator="\n")
        sw.writeheader()
        sw.writerows(subject_rows)
        write_synced(tmp / "subjects.csv", subjects_csv.getvalue())
        voided_csv = io.StringIO()
        vw = csv.DictWriter(voided_csv, fieldnames=VOIDED_COLUMNS, lineterminator="\n")
        vw.writeheader()
        vw.writerows(voided_rows)
        write_synced(tmp / "voided.csv", voided_csv.getvalue())
        n_test = sum(1 for a in splits.values() if a.split == "test")
        summary = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "pedpain": __version__,
            "created": audit.now().isoformat(),
            "out": str(target),
            "synthetic": any(s.synthetic for s in subjects),
            "subjects": len(subjects),
            "items": items,
            "voided_sessions": len(voided_rows),
            "deviation_sessions": deviations,
            "deviations_included": include_deviations,
            "splits_settled": settled,
            "train_subjects": len(splits) - n_test,
            "test_subjects": n_test,
            "test_fraction": test_fraction,
            "folds": folds,
            "seed": seed,
            "stratified_by": ["age_band", "pain_level"],
            "with_media": media is not None,
            "columns": list(MANIFEST_COLUMNS),
            "disclaimer": DISCLAIMER,
        }
        write_synced(tmp / "export.json", json.dumps(summary, indent=2) + "\n")
        publish_staged(store, tmp, target, registrations)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with store.session() as db, db.begin():
        audit.record_many(db, audit_rows)
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def publish_staged(store: Store, tmp: Path, target: Path, registrations: Iterable[Derived]) -> None:
    """Put a finished staging folder in place of ``target``, registering what it holds
    first: a kill after the swap can then never leave decrypted files that withdrawal
    does not know about."""
    unregister_under(store, target)
    register_derived_many(store, registrations)
    swap_folder(tmp, target)


def swap_folder(tmp: Path, target: Path) -> None:
    """Put the finished folder in place of ``target`` (an earlier export or nothing)."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """The rows of a manifest.csv (for scripts and tests)."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
