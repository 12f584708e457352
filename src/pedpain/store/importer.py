"""``pedpain db import DIR``: an OAPC-FEI import folder into the research database.

- Every row is checked against the protocol's rules (``pedpain.clinical.eligibility``):
  ineligible children are recorded in the screening log, not silently dropped; rows that
  break a rule (scale that does not fit the age, session outside 6-48 h, no consent on
  file, checksum mismatch...) are reported with file and line and left out; all good rows
  still go in (exit code 3 when any row was rejected).
- Idempotent: rows already in the database (by their natural keys) are skipped, so an
  import can be rerun to finish what a killed run left undone, or to add new rows.
- Transactional per subject: subjects are written in batches, each batch one transaction
  (a failing batch is retried subject by subject). Media are encrypted into a staging
  folder first and renamed into the store only after the transaction committed; the next
  run completes or removes anything a kill left in staging. So a killed import leaves
  neither half a subject nor an orphan file.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession

from pedpain.clinical import eligibility as rules
from pedpain.clinical.consensus import RATERS_PER_SESSION
from pedpain.clinical.eligibility import Finding
from pedpain.clinical.reference import reference_consensus
from pedpain.clinical.scales import PainScale, check_score, normalise, scale_by_name
from pedpain.core.errors import UsageError
from pedpain.core.logging import get_logger
from pedpain.core.progress import track
from pedpain.store import audit
from pedpain.store.layout import (
    Cohort,
    ConsentRow,
    RowError,
    SessionRow,
    SubjectRow,
    read_cohort,
)
from pedpain.store.media import MediaStore, sha256_hex
from pedpain.store.models import (
    Analgesic,
    Base,
    Consent,
    Media,
    Rating,
    ScreeningRejection,
    SelfReport,
    Session,
    Subject,
)
from pedpain.store.models import Cohort as CohortRow
from pedpain.store.store import Store

log = get_logger(__name__)

#: Subjects per database transaction.
DEFAULT_BATCH = 200
#: Media files larger than this are refused (a 10 s video is far smaller).
MAX_MEDIA_BYTES = 2 * 1024**3 - 1


@dataclass
class ImportReport:
    source: str
    synthetic: bool
    subjects_in_folder: int = 0
    subjects_added: int = 0
    subjects_updated: int = 0
    subjects_unchanged: int = 0
    screening_rejections: int = 0
    screening_reasons: Counter[str] = field(default_factory=Counter)
    withdrawn: int = 0
    added: Counter[str] = field(default_factory=Counter)
    media_files_written: int = 0
    staging: dict[str, int] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    rows_skipped_with_parent: int = 0
    seconds: float = 0.0

    def to_dict(self, max_errors: int = 1000) -> dict[str, Any]:
        return {
            "source": self.source,
            "synthetic": self.synthetic,
            "subjects_in_folder": self.subjects_in_folder,
            "subjects_added": self.subjects_added,
            "subjects_updated": self.subjects_updated,
            "subjects_unchanged": self.subjects_unchanged,
            "screening_rejections": self.screening_rejections,
            "screening_reasons": dict(sorted(self.screening_reasons.items())),
            "withdrawn": self.withdrawn,
            "added": {k: self.added.get(k, 0) for k in _TABLES},
            "media_files_written": self.media_files_written,
            "staging_recovered": self.staging,
            "warnings": dict(sorted(self.warnings.items())),
            "rejected_rows": len(self.errors),
            "rows_skipped_with_parent": self.rows_skipped_with_parent,
            "errors": [e.to_dict() for e in self.errors[:max_errors]],
            "seconds": round(self.seconds, 3),
        }


_TABLES = ("consents", "sessions", "media", "ratings", "self_reports", "analgesics")


@dataclass
class _Existing:
    """What the database already holds for a batch of subjects."""

    subjects: dict[str, tuple[int, int, str]]  # code -> (id, age_months, group)
    sessions: dict[str, tuple[int, int]]  # code -> (id, subject_id)
    media: set[tuple[int, str]]
    ratings: set[tuple[int, str]]
    self_reports: set[tuple[int, str]]
    consents: dict[int, list[rules.ConsentEvent]]
    consent_keys: set[tuple[int, str, Any, str]]
    analgesics: set[tuple[int, str, Any]]
    screened: set[str]
    withdrawn: set[str]


@dataclass
class _Plan:
    """Everything to write for one subject, built before the transaction."""

    code: str
    subject: dict[str, Any] | None  # None when the subject already exists
    subject_id: int | None
    consents: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)  # "session_code" key
    ratings: list[dict[str, Any]] = field(default_factory=list)
    self_reports: list[dict[str, Any]] = field(default_factory=list)
    analgesics: list[dict[str, Any]] = field(default_factory=list)
    staged: list[Path] = field(default_factory=list)
    touched_sessions: set[int] = field(default_factory=set)  # existing, new ratings

    def empty(self) -> bool:
        return self.subject is None and not any(
            (
                self.consents,
                self.sessions,
                self.media,
                self.ratings,
                self.self_reports,
                self.analgesics,
                self.staged,
            )
        )


class _Importer:
    def __init__(self, store: Store, cohort: Cohort, reason: str | None, batch: int) -> None:
        self.store = store
        self.cohort = cohort
        self.reason = reason or f"import of {cohort.folder}"
        self.batch = max(1, batch)
        self.report = ImportReport(source=str(cohort.folder), synthetic=cohort.synthetic)
        self.report.errors.extend(cohort.errors)
        self._media: MediaStore | None = None
        self.cohort_id: int | None = None
        self._existing_session_ids: dict[str, int] = {}

    # -- helpers ----------------------------------------------------------------------
    def error(self, file: str, line: int, message: str) -> None:
        self.report.errors.append(RowError(file, line, message))

    @property
    def media(self) -> MediaStore:
        if self._media is None:
            self._media = self.store.media()
        return self._media

    # -- indexing ---------------------------------------------------------------------
    def index(self) -> None:
        c = self.cohort
        self.subjects: dict[str, SubjectRow] = {}
        for s in c.subjects:
            if s.code in self.subjects:
                self.error("subjects.csv", s.line, f"subject {s.code} is listed twice")
                continue
            self.subjects[s.code] = s
        self.consents: dict[str, list[ConsentRow]] = defaultdict(list)
        for cr in c.consents:
            if cr.subject_code not in self.subjects:
                self.error("consents.csv", cr.line, f"unknown subject {cr.subject_code}")
                continue
            self.consents[cr.subject_code].append(cr)
        self.sessions: dict[str, list[SessionRow]] = defaultdict(list)
        self.session_subject: dict[str, str] = {}
        for sr in c.sessions:
            if sr.subject_code not in self.subjects:
                self.error("sessions.csv", sr.line, f"unknown subject {sr.subject_code}")
                continue
            if sr.code in self.session_subject:
                self.error("sessions.csv", sr.line, f"session {sr.code} is listed twice")
                continue
            self.session_subject[sr.code] = sr.subject_code
            self.sessions[sr.subject_code].append(sr)
        self.by_session: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        rows: list[Any]
        for name, rows in (
            ("media.csv", c.media),
            ("ratings.csv", c.ratings),
            ("self_reports.csv", c.self_reports),
        ):
            for item in rows:
                if item.session_code not in self.session_subject:
                    self.error(name, item.line, f"unknown session {item.session_code}")
                    continue
                self.by_session[item.session_code][name].append(item)
        self.clinical: dict[str, list[Any]] = defaultdict(list)
        for cl in c.clinical:
            if cl.subject_code not in self.subjects:
                self.error("clinical.csv", cl.line, f"unknown subject {cl.subject_code}")
                continue
            if cl.session_code and self.session_subject.get(cl.session_code) != cl.subject_code:
                self.error(
                    "clinical.csv",
                    cl.line,
                    f"session {cl.session_code} is not a session of {cl.subject_code}",
                )
                continue
            self.clinical[cl.subject_code].append(cl)

    # -- the run ----------------------------------------------------------------------
    def run(self) -> ImportReport:
        start = time.perf_counter()
        self.index()
        codes = list(self.subjects)
        self.report.subjects_in_folder = len(codes)
        self._sweep()
        self._record_cohort()
        to_withdraw: list[tuple[str, str]] = []
        batches = [codes[i : i + self.batch] for i in range(0, len(codes), self.batch)]
        for chunk in track(batches, "importing subjects", total=len(batches)):
            to_withdraw.extend(self._batch(chunk))
        for code, why in to_withdraw:
            from pedpain.store.withdraw import withdraw_subject

            withdraw_subject(
                self.store,
                code,
                why,
                source=f"consents.csv of {self.cohort.folder}",
                record_unknown=True,
            )
            self.report.withdrawn += 1
        with self.store.session() as db, db.begin():
            audit.record(
                db,
                self.store.actor,
                "cohort.import",
                target=str(self.cohort.folder),
                reason=self.reason,
                detail={
                    "subjects_added": self.report.subjects_added,
                    "subjects_updated": self.report.subjects_updated,
                    "screening_rejections": self.report.screening_rejections,
                    "rejected_rows": len(self.report.errors),
                },
            )
        if self._media is not None:
            self._media.close()
        self.report.seconds = time.perf_counter() - start
        return self.report

    def _sweep(self) -> None:
        if not (self.store.media_root / ".staging").is_dir():
            return

        def referenced(sha: str) -> bool:
            with self.store.session() as db:
                return db.scalar(select(Media.id).where(Media.sha256 == sha).limit(1)) is not None

        self.report.staging = self.media.sweep_staging(referenced)

    def _record_cohort(self) -> None:
        meta = self.cohort.meta
        with self.store.session() as db, db.begin():
            row = CohortRow(
                source=str(self.cohort.folder),
                site=str(meta.get("site"))[:64] if meta.get("site") else None,
                synthetic=bool(meta.get("synthetic")),
                generator=str(meta.get("generator"))[:200] if meta.get("generator") else None,
                format_version=int(meta.get("version", 1)),
                imported_at=audit.now(),
            )
            db.add(row)
            db.flush()
            self.cohort_id = row.id

    def _batch(self, codes: list[str]) -> list[tuple[str, str]]:
        """Plan and write one batch; returns (code, reason) of subjects to withdraw."""
        with self.store.session() as db:
            existing = _load_existing(db, codes, self._session_codes(codes))
        withdraw: list[tuple[str, str]] = []
        plans: list[_Plan] = []
        screen_rows: list[dict[str, Any]] = []
        clear_screening: list[str] = []
        for code in codes:
            if code in existing.withdrawn:
                self.report.withdrawn += 1
                continue
            withdrawn_event = next(
                (c for c in self.consents.get(code, []) if c.event == "withdrawn"), None
            )
            if withdrawn_event is not None:
                withdraw.append(
                    (code, withdrawn_event.reason or "consent withdrawn (consents.csv)")
                )
                continue
            plan = self._plan(code, existing, screen_rows, clear_screening)
            if plan is not None:
                plans.append(plan)
        try:
            self._write(plans, screen_rows, clear_screening)
        except SQLAlchemyError as exc:
            log.warning("batch failed (%s); retrying subject by subject", exc.__class__.__name__)
            for plan in plans:
                try:
                    self._write([plan], [], [])
                except SQLAlchemyError as one:
                    first = str(getattr(one, "orig", None) or one).splitlines()[0]
                    self.error(
                        "subjects.csv", self.subjects[plan.code].line, f"not stored: {first}"
                    )
                    for path in plan.staged:
                        self.media.discard(path)
            self._write([], screen_rows, clear_screening)
        return withdraw

    def _session_codes(self, codes: Iterable[str]) -> list[str]:
        return [s.code for c in codes for s in self.sessions.get(c, [])]

    # -- planning ---------------------------------------------------------------------
    def _plan(
        self,
        code: str,
        ex: _Existing,
        screen_rows: list[dict[str, Any]],
        clear_screening: list[str],
    ) -> _Plan | None:
        row = self.subjects[code]
        known = ex.subjects.get(code)
        if known is None:
            age = _age_months(row, self.consents.get(code, []), self.sessions.get(code, []))
            findings = rules.screen_subject(
                rules.SubjectFacts(
                    code=code,
                    group=row.group,
                    age_months=age,
                    gestational_age_weeks=row.gestational_age_weeks,
                    surgery_start=row.surgery_start,
                    surgery_end=row.surgery_end,
                    **row.flags,
                )
            )
            findings += self._subject_level_findings(code, row, age)
            if findings:
                self.report.screening_rejections += 1
                self.report.screening_reasons.update(f.code for f in findings)
                skipped = len(self.sessions.get(code, []))
                self.report.rows_skipped_with_parent += skipped
                if code not in ex.screened:
                    screen_rows.append(
                        {
                            "subject_code": code,
                            "cohort_id": self.cohort_id,
                            "group": row.group,
                            "age_months": age,
                            "reasons": json.dumps(
                                [{"code": f.code, "message": f.message} for f in findings]
                            ),
                            "screened_at": audit.now(),
                        }
                    )
                return None
            if code in ex.screened:
                clear_screening.append(code)  # corrected data: now eligible
            plan = _Plan(code, _subject_dict(row, age, self), None)
            group = row.group
            subject_id = None
        else:
            subject_id, age, group = known
            plan = _Plan(code, None, subject_id)

        consent_events = list(ex.consents.get(subject_id, [])) if subject_id else []
        for c in self.consents.get(code, []):
            key = (subject_id or 0, c.event, c.on, c.version)
            if c.event == "given" and age >= rules.ASSENT_AGE_MONTHS and c.child_assent is None:
                self.error(
                    "consents.csv",
                    c.line,
                    f"child_assent is empty for a child of {age // 12} years (from 7 years "
                    "the child's assent is recorded as 1 or 0)",
                )
            consent_events.append(
                rules.ConsentEvent(c.event, c.on, c.guardian_consent, c.child_assent, c.version)
            )
            if subject_id is None or key not in ex.consent_keys:
                plan.consents.append(
                    {
                        "event": c.event,
                        "on_date": c.on,
                        "guardian_consent": c.guardian_consent,
                        "child_assent": c.child_assent,
                        "version": c.version,
                        "reason": c.reason,
                    }
                )

        accepted_sessions: set[str] = set()
        for s in self.sessions.get(code, []):
            known_session = ex.sessions.get(s.code)
            if known_session is not None:
                if known_session[1] != subject_id:
                    self.error(
                        "sessions.csv", s.line, f"session {s.code} belongs to another subject"
                    )
                    continue
                accepted_sessions.add(s.code)
                continue
            problem = self._check_session(s, row, age, group, consent_events)
            if problem:
                self.error("sessions.csv", s.line, f"session {s.code}: {problem}")
                dependents = self.by_session.get(s.code, {})
                self.report.rows_skipped_with_parent += sum(len(v) for v in dependents.values())
                continue
            accepted_sessions.add(s.code)
            plan.sessions.append(self._session_dict(s, row, age))

        new_sessions = {s["code"]: s for s in plan.sessions}
        for session_code in accepted_sessions:
            rows = self.by_session.get(session_code, {})
            sid = ex.sessions[session_code][0] if session_code in ex.sessions else None
            scores, adjudicated = self._ratings(
                rows.get("ratings.csv", []), session_code, sid, age, ex, plan
            )
            if session_code in new_sessions:
                agreed = reference_consensus(scores, adjudicated)
                new_sessions[session_code].update(
                    consensus_score=agreed.score,
                    rater_spread=agreed.spread,
                    n_ratings=agreed.n_ratings,
                    needs_adjudication=agreed.needs_adjudication,
                )
            self._self_reports(rows.get("self_reports.csv", []), session_code, sid, age, ex, plan)
            self._media_rows(rows.get("media.csv", []), session_code, sid, ex, plan)

        for r in self.clinical.get(code, []):
            if r.session_code and r.session_code not in accepted_sessions:
                self.report.rows_skipped_with_parent += 1
                continue
            if subject_id is not None and (subject_id, r.drug, r.given_at) in ex.analgesics:
                continue
            plan.analgesics.append(
                {
                    "session_code": r.session_code,
                    "drug": r.drug,
                    "dose_mg": r.dose_mg,
                    "route": r.route,
                    "given_at": r.given_at,
                }
            )
        return plan

    def _subject_level_findings(self, code: str, row: SubjectRow, age: int) -> list[Finding]:
        """Consent and the assessment window, judged for the child as a whole at
        enrolment (later sessions of an enrolled child are judged row by row)."""
        out: list[Finding] = []
        events = [
            rules.ConsentEvent(c.event, c.on, c.guardian_consent, c.child_assent, c.version)
            for c in self.consents.get(code, [])
        ]
        consent = rules.screen_consent(events, age)
        if consent is not None:
            out.append(consent)
        if row.group == "experimental" and row.surgery_end is not None:
            for s in self.sessions.get(code, []):
                hours = s.hours_since_surgery
                if hours is None:
                    hours = (s.assessed_at - row.surgery_end).total_seconds() / 3600.0
                timing = rules.check_assessment_time(hours, row.group)
                if timing is not None:
                    out.append(Finding(timing.code, f"session {s.code} {timing.message}"))
                    break
        return out

    def _check_session(
        self,
        s: SessionRow,
        row: SubjectRow,
        age: int,
        group: str,
        consents: list[rules.ConsentEvent],
    ) -> str | None:
        hours = s.hours_since_surgery
        if hours is None and row.surgery_end is not None:
            hours = (s.assessed_at - row.surgery_end).total_seconds() / 3600.0
        timing = rules.check_assessment_time(hours, group)
        if timing:
            return timing.message
        consent = rules.check_consent(consents, age, s.assessed_at.date())
        if consent:
            return consent.message
        if s.bps_scale is not None and s.bps_score is not None:
            try:
                scale = scale_by_name(s.bps_scale)
                fit = rules.check_scale_fits_age(scale, age)
                if fit:
                    return f"bps_scale: {fit.message}"
                normalise(s.bps_score, scale)
            except UsageError as exc:
                return f"bps: {exc.message}"
        return None

    def _session_dict(self, s: SessionRow, row: SubjectRow, age: int) -> dict[str, Any]:
        hours = s.hours_since_surgery
        if hours is None and row.surgery_end is not None and row.group == "experimental":
            hours = round((s.assessed_at - row.surgery_end).total_seconds() / 3600.0, 3)
        bps_norm = None
        if s.bps_scale and s.bps_score is not None:
            bps_norm = normalise(s.bps_score, scale_by_name(s.bps_scale))
        return {
            "code": s.code,
            "time_point": s.time_point,
            "assessed_at": s.assessed_at,
            "hours_since_surgery": hours,
            "bps_scale": scale_by_name(s.bps_scale).code if s.bps_scale else None,
            "bps_score": s.bps_score,
            "bps_normalised": bps_norm,
            "latent_pain": s.latent_pain,
            "consensus_score": None,
            "rater_spread": None,
            "n_ratings": 0,
            "needs_adjudication": False,
        }

    def _scale(self, name: str, age: int, file: str, line: int, self_report: bool) -> PainScale:
        scale = scale_by_name(name)
        if self_report and scale.reporter != "self":
            raise UsageError(f"{scale.code} is not a self-report scale (FPS-R, NRS, VAS)")
        if not self_report and scale.reporter == "self":
            raise UsageError(f"{scale.code} is a self-report scale: it goes in self_reports.csv")
        fit = rules.check_scale_fits_age(scale, age)
        if fit:
            raise UsageError(fit.message)
        return scale

    def _ratings(
        self,
        rows: list[Any],
        session_code: str,
        sid: int | None,
        age: int,
        ex: _Existing,
        plan: _Plan,
    ) -> tuple[list[float], list[float]]:
        scores: list[float] = []
        seen: set[str] = set()
        existing_raters = (
            {rt for s_id, rt in ex.ratings if s_id == sid} if sid is not None else set()
        )
        accepted_new = 0
        adjudications: list[float] = []
        for r in rows:
            if r.rater in seen:
                self.error("ratings.csv", r.line, f"rater {r.rater} scored {session_code} twice")
                continue
            seen.add(r.rater)
            is_new = r.rater not in existing_raters
            if r.adjudication and not (r.adjudication_reason or "").strip():
                self.error("ratings.csv", r.line, f"{session_code}: an adjudication needs a reason")
                continue
            if (
                not r.adjudication
                and is_new
                and len(existing_raters) + accepted_new >= RATERS_PER_SESSION
            ):
                # The study's rule: 3 ratings a session; a 4th would move the label.
                self.error(
                    "ratings.csv",
                    r.line,
                    f"{session_code} already has its {RATERS_PER_SESSION} ratings",
                )
                continue
            try:
                scale = self._scale(r.scale, age, "ratings.csv", r.line, self_report=False)
                value = normalise(check_score(r.raw_score, scale), scale)
            except UsageError as exc:
                self.error("ratings.csv", r.line, f"{session_code}: {exc.message}")
                continue
            if r.adjudication:
                adjudications.append(value)
            else:
                scores.append(value)
                accepted_new += is_new
            if sid is not None and (sid, r.rater) in ex.ratings:
                continue
            if sid is not None:
                plan.touched_sessions.add(sid)
            plan.ratings.append(
                {
                    "session_code": session_code,
                    "rater": r.rater,
                    "role": r.role,
                    "scale": scale.code,
                    "raw_score": r.raw_score,
                    "normalised": value,
                    "blinded": r.blinded,
                    "adjudication": r.adjudication,
                    "adjudication_reason": r.adjudication_reason,
                }
            )
        return scores, adjudications

    def _self_reports(
        self,
        rows: list[Any],
        session_code: str,
        sid: int | None,
        age: int,
        ex: _Existing,
        plan: _Plan,
    ) -> None:
        for r in rows:
            try:
                scale = self._scale(r.scale, age, "self_reports.csv", r.line, self_report=True)
                value = normalise(r.raw_score, scale)
            except UsageError as exc:
                self.error("self_reports.csv", r.line, f"{session_code}: {exc.message}")
                continue
            if sid is not None and (sid, scale.code) in ex.self_reports:
                continue
            plan.self_reports.append(
                {
                    "session_code": session_code,
                    "scale": scale.code,
                    "raw_score": r.raw_score,
                    "normalised": value,
                }
            )

    def _media_rows(
        self, rows: list[Any], session_code: str, sid: int | None, ex: _Existing, plan: _Plan
    ) -> None:
        kinds = Counter(r.kind for r in rows)
        if kinds.get("photo", 0) != 3 or kinds.get("video", 0) != 1:
            self.report.warnings["session_media_not_3_photos_1_video"] += 1
        slots: set[str] = set()
        for r in rows:
            slot = r.path.rsplit("/", 1)[-1]
            if slot in slots:
                self.error("media.csv", r.line, f"{session_code} has two files named {slot}")
                continue
            slots.add(slot)
            exists_row = sid is not None and (sid, slot) in ex.media
            if exists_row and self.media.has(r.sha256):
                continue
            try:
                item = self._read_media(r, session_code, slot)
            except _MediaProblem as exc:
                self.error("media.csv", r.line, f"{session_code}/{slot}: {exc}")
                continue
            plain = item.pop("_bytes")
            if not self.media.has(r.sha256):
                plan.staged.append(self.media.stage(plain, r.sha256))
            if not exists_row:
                plan.media.append(item)

    def _read_media(self, r: Any, session_code: str, slot: str) -> dict[str, Any]:
        path = self.cohort.folder / r.path
        try:
            # Paths with .. are refused when read; a symlinked folder could still lead
            # outside: check each folder's real location once.
            if not _real_folder(str(path.parent)).startswith(str(self.cohort.folder) + "/") or (
                path.is_symlink() and not str(path.resolve()).startswith(str(self.cohort.folder))
            ):
                raise _MediaProblem(f"{r.path} points outside the import folder")
            size = path.stat().st_size
            if size > MAX_MEDIA_BYTES:
                raise _MediaProblem(f"{r.path} is larger than 2 GiB")
            data = path.read_bytes()
        except FileNotFoundError:
            raise _MediaProblem(f"file not found: {r.path}") from None
        except OSError as exc:
            raise _MediaProblem(f"cannot read {r.path}: {exc.strerror}") from None
        if not data:
            raise _MediaProblem(f"{r.path} is empty")
        digest = sha256_hex(data)
        if digest != r.sha256:
            raise _MediaProblem(f"checksum mismatch for {r.path} (file changed or corrupted)")
        width, height, warning = r.width, r.height, None
        if r.kind == "photo":
            width, height = _image_size(data, r.path)
            if (r.width, r.height) not in ((None, None), (width, height)):
                self.report.warnings["photo_size_differs_from_media_csv"] += 1
            finding = rules.check_photo_resolution(width, height)
            if finding is not None:
                warning = finding.message
                self.report.warnings[finding.code] += 1
        return {
            "_bytes": data,
            "session_code": session_code,
            "slot": slot,
            "kind": r.kind,
            "sha256": digest,
            "size_bytes": len(data),
            "width": width,
            "height": height,
            "frames": r.frames,
            "fps": r.fps,
            "duration_s": r.duration_s,
            "capture_device": r.capture_device,
            "warning": warning,
        }

    # -- writing ----------------------------------------------------------------------
    def _write(
        self,
        plans: list[_Plan],
        screen_rows: list[dict[str, Any]],
        clear_screening: list[str],
    ) -> None:
        unchanged = [p for p in plans if p.empty()]
        self.report.subjects_unchanged += len(unchanged)
        plans = [p for p in plans if not p.empty()]
        if not plans and not screen_rows and not clear_screening:
            return
        counts: Counter[str] = Counter()
        with self.store.session() as db, db.begin():
            if screen_rows:
                db.execute(insert(ScreeningRejection), screen_rows)
                audit.record_many(
                    db,
                    [
                        audit.entry(
                            self.store.actor,
                            "subject.screen_out",
                            subject_code=r["subject_code"],
                            target=str(self.cohort.folder),
                            reason=self.reason,
                            detail={"reasons": [x["code"] for x in json.loads(r["reasons"])]},
                        )
                        for r in screen_rows
                    ],
                )
            if clear_screening:
                db.execute(
                    delete(ScreeningRejection).where(
                        ScreeningRejection.subject_code.in_(clear_screening)
                    )
                )
            new_subjects = [p.subject for p in plans if p.subject is not None]
            ids = {p.code: p.subject_id for p in plans if p.subject_id is not None}
            if new_subjects:
                result = db.execute(
                    insert(_table("subject")).returning(
                        _table("subject").c.id,
                        _table("subject").c.code,
                        sort_by_parameter_order=True,
                    ),
                    new_subjects,
                )
                ids.update((code, sid) for sid, code in result)
            session_rows = [dict(s, subject_id=ids[p.code]) for p in plans for s in p.sessions]
            session_ids: dict[str, int] = {}
            if session_rows:
                result = db.execute(
                    insert(_table("session")).returning(
                        _table("session").c.id,
                        _table("session").c.code,
                        sort_by_parameter_order=True,
                    ),
                    session_rows,
                )
                session_ids.update((code, sid) for sid, code in result)

            def sid_of(code: str | None) -> int | None:
                if code is None:
                    return None
                return session_ids.get(code) or self._existing_session_ids.get(code)

            self._existing_session_ids = {}
            needed = {
                r["session_code"]
                for p in plans
                for r in (*p.media, *p.ratings, *p.self_reports, *p.analgesics)
                if r["session_code"] and r["session_code"] not in session_ids
            }
            if needed:
                self._existing_session_ids = _session_ids(db, sorted(needed))
            tables: list[tuple[str, Any, list[dict[str, Any]]]] = [
                (
                    "consents",
                    Consent,
                    [dict(c, subject_id=ids[p.code]) for p in plans for c in p.consents],
                ),
                ("media", Media, [_with_session(m, sid_of) for p in plans for m in p.media]),
                ("ratings", Rating, [_with_session(r, sid_of) for p in plans for r in p.ratings]),
                (
                    "self_reports",
                    SelfReport,
                    [_with_session(r, sid_of) for p in plans for r in p.self_reports],
                ),
                (
                    "analgesics",
                    Analgesic,
                    [
                        dict(_with_session(r, sid_of), subject_id=ids[p.code])
                        for p in plans
                        for r in p.analgesics
                    ],
                ),
            ]
            for name, model, rows in tables:
                if rows:
                    db.execute(insert(_table(model.__tablename__)), rows)
                    counts[name] += len(rows)
            counts["sessions"] += len(session_rows)
            touched = sorted({sid for p in plans for sid in p.touched_sessions})
            if touched:
                _recompute_consensus(db, touched)
            audit.record_many(
                db,
                [
                    audit.entry(
                        self.store.actor,
                        "subject.import" if p.subject is not None else "subject.update",
                        subject_code=p.code,
                        target=str(self.cohort.folder),
                        reason=self.reason,
                        detail={
                            "sessions": len(p.sessions),
                            "media_written": len(p.staged),
                            "ratings": len(p.ratings),
                        },
                    )
                    for p in plans
                ],
            )
        # Committed: the staged files may now take their place in the store.
        for p in plans:
            for staged in p.staged:
                self.media.promote(staged)
            self.report.media_files_written += len(p.staged)
            if p.subject is not None:
                self.report.subjects_added += 1
            else:
                self.report.subjects_updated += 1
        self.report.added.update(counts)


def _table(name: str) -> Table:
    """Core table (bulk inserts skip the ORM's per-row bookkeeping)."""
    return Base.metadata.tables[name]


class _MediaProblem(Exception):
    pass


def _with_session(row: dict[str, Any], sid_of: Any) -> dict[str, Any]:
    out = dict(row)
    out["session_id"] = sid_of(out.pop("session_code"))
    return out


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder) + "/"


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame marker (fast path; None if unsure)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        # SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width, height) if width and height else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def _image_size(data: bytes, name: str) -> tuple[int, int]:
    fast = _jpeg_size(data)
    if fast is not None:
        return fast
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except (UnidentifiedImageError, OSError, ValueError):
        raise _MediaProblem(f"{name} is not a readable image") from None


def _subject_dict(row: SubjectRow, age: int, imp: _Importer) -> dict[str, Any]:
    hours = None
    if row.surgery_start and row.surgery_end:
        hours = (row.surgery_end - row.surgery_start).total_seconds() / 3600.0
    synthetic = row.synthetic if row.synthetic is not None else imp.cohort.synthetic
    return {
        "code": row.code,
        "cohort_id": imp.cohort_id,
        "synthetic": bool(synthetic),
        "group": row.group,
        "sex": row.sex,
        "birth_date": row.birth_date,
        "age_months": age,
        "gestational_age_weeks": row.gestational_age_weeks,
        "surgery_type": row.surgery_type if row.group == "experimental" else None,
        "surgery_start": row.surgery_start,
        "surgery_end": row.surgery_end,
        "surgery_hours": round(hours, 4) if hours is not None else None,
        **row.flags,
        "enrolled_at": audit.now(),
    }


def _age_months(row: SubjectRow, consents: list[ConsentRow], sessions: list[SessionRow]) -> int:
    if row.age_months is not None:
        return row.age_months
    assert row.birth_date is not None
    dates = [c.on for c in consents if c.event == "given"] + [
        s.assessed_at.date() for s in sessions
    ]
    reference = min(dates) if dates else audit.now().date()
    return rules.age_in_months(row.birth_date, reference)


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _session_ids(db: DbSession, codes: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(codes):
        out.update(
            (c, i)
            for i, c in db.execute(select(Session.id, Session.code).where(Session.code.in_(chunk)))
        )
    return out


def _load_existing(db: DbSession, codes: list[str], session_codes: list[str]) -> _Existing:
    subjects: dict[str, tuple[int, int, str]] = {}
    for chunk in _chunks(codes):
        for sid, code, age, group in db.execute(
            select(Subject.id, Subject.code, Subject.age_months, Subject.group).where(
                Subject.code.in_(chunk)
            )
        ):
            subjects[code] = (sid, age, group)
    sessions: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(session_codes):
        for i, c, subj in db.execute(
            select(Session.id, Session.code, Session.subject_id).where(Session.code.in_(chunk))
        ):
            sessions[c] = (i, subj)
    ex = _Existing(
        subjects=subjects,
        sessions=sessions,
        media=set(),
        ratings=set(),
        self_reports=set(),
        consents=defaultdict(list),
        consent_keys=set(),
        analgesics=set(),
        screened=set(),
        withdrawn=audit.withdrawn_codes(db, codes),
    )
    for chunk in _chunks(codes):
        ex.screened.update(
            db.scalars(
                select(ScreeningRejection.subject_code).where(
                    ScreeningRejection.subject_code.in_(chunk)
                )
            )
        )
    subject_ids = [v[0] for v in subjects.values()]
    session_ids = [v[0] for v in sessions.values()]
    for chunk in _chunks(session_ids):
        ex.media.update(
            db.execute(select(Media.session_id, Media.slot).where(Media.session_id.in_(chunk)))
        )
        ex.ratings.update(
            db.execute(select(Rating.session_id, Rating.rater).where(Rating.session_id.in_(chunk)))
        )
        ex.self_reports.update(
            db.execute(
                select(SelfReport.session_id, SelfReport.scale).where(
                    SelfReport.session_id.in_(chunk)
                )
            )
        )
    for chunk in _chunks(subject_ids):
        for row in db.scalars(select(Consent).where(Consent.subject_id.in_(chunk))):
            ex.consents[row.subject_id].append(
                rules.ConsentEvent(
                    row.event, row.on_date, row.guardian_consent, row.child_assent, row.version
                )
            )
            ex.consent_keys.add((row.subject_id, row.event, row.on_date, row.version))
        ex.analgesics.update(
            db.execute(
                select(Analgesic.subject_id, Analgesic.drug, Analgesic.given_at).where(
                    Analgesic.subject_id.in_(chunk)
                )
            )
        )
    return ex


def _recompute_consensus(db: DbSession, session_ids: list[int]) -> None:
    scores: dict[int, list[float]] = defaultdict(list)
    adjudications: dict[int, list[float]] = defaultdict(list)
    for chunk in _chunks(session_ids):
        for sid, value, adjudication in db.execute(
            select(Rating.session_id, Rating.normalised, Rating.adjudication).where(
                Rating.session_id.in_(chunk)
            )
        ):
            (adjudications if adjudication else scores)[sid].append(value)
    for sid in session_ids:
        c = reference_consensus(scores.get(sid, []), adjudications.get(sid, []))
        session = db.get(Session, sid)
        if session is not None:
            session.consensus_score = c.score
            session.rater_spread = c.spread
            session.n_ratings = c.n_ratings
            session.needs_adjudication = c.needs_adjudication


def import_cohort(
    store: Store, folder: str | Path, *, reason: str | None = None, batch: int = DEFAULT_BATCH
) -> ImportReport:
    """Import an OAPC-FEI folder; see the module docstring for the guarantees."""
    cohort = read_cohort(Path(folder))
    return _Importer(store, cohort, reason, batch).run()
