"""The OAPC-FEI research database schema (SQLAlchemy 2 declarative models).

The same models serve SQLite (embedded) and PostgreSQL (multi-site); the schema itself is
created and upgraded by the Alembic migrations in ``pedpain/store/migrations`` (a test
checks that models and migrations agree). Subjects are known by their pseudonymous code
only: the key to a child's real identity never enters this database.

Deleting a subject cascades to everything recorded about the child (consent, sessions,
media rows, ratings, self-reports, analgesics, derived-artefact registrations); the audit
log and screening log keep no foreign key so that they outlive it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names: Alembic migrations (and SQLite batch mode) need them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class StoreMeta(Base):
    """Key/value facts about the store itself (e.g. the id of the media key in use)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Cohort(Base):
    """One imported folder (``cohort.json``): where data came from, synthetic or not."""

    __tablename__ = "cohort"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(String(64))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    generator: Mapped[str | None] = mapped_column(String(200))
    format_version: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTime)


class Subject(Base):
    __tablename__ = "subject"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id", ondelete="SET NULL"))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    group: Mapped[str] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date | None] = mapped_column(Date)
    age_months: Mapped[int] = mapped_column(Integer)
    gestational_age_weeks: Mapped[float | None] = mapped_column(Float)
    surgery_type: Mapped[str | None] = mapped_column(String(16))
    surgery_start: Mapped[datetime | None] = mapped_column(DateTime)
    surgery_end: Mapped[datetime | None] = mapped_column(DateTime)
    surgery_hours: Mapped[float | None] = mapped_column(Float)
    neurological_disease: Mapped[bool] = mapped_column(Boolean, default=False)
    muscular_disease: Mapped[bool] = mapped_column(Boolean, default=False)
    psychiatric_disease: Mapped[bool] = mapped_column(Boolean, default=False)
    intraop_cardiac_arrest: Mapped[bool] = mapped_column(Boolean, default=False)
    icu_after_surgery: Mapped[bool] = mapped_column(Boolean, default=False)
    non_cooperative: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )
    sessions: Mapped[list[Session]] = relationship(
        back_populates="subject",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Session.assessed_at",
    )
    analgesics: Mapped[list[Analgesic]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )


class ScreeningRejection(Base):
    """A child screened but not enrolled, and why (the study's screening log)."""

    __tablename__ = "screening_rejection"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_code: Mapped[str] = mapped_column(String(32), unique=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id", ondelete="SET NULL"))
    group: Mapped[str | None] = mapped_column(String(16))
    age_months: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(Text)  # JSON list of {"code", "message"}
    screened_at: Mapped[datetime] = mapped_column(DateTime)


class Consent(Base):
    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("subject_id", "event", "on_date", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(16))  # given | withdrawn
    on_date: Mapped[date] = mapped_column(Date)
    guardian_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    child_assent: Mapped[bool | None] = mapped_column(Boolean)
    version: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[Subject] = relationship(back_populates="consents")


class Session(Base):
    """One assessment of a child at one time point, with the derived reference label."""

    __tablename__ = "session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    time_point: Mapped[str] = mapped_column(String(16))
    assessed_at: Mapped[datetime] = mapped_column(DateTime)
    hours_since_surgery: Mapped[float | None] = mapped_column(Float)
    bps_scale: Mapped[str | None] = mapped_column(String(16))
    bps_score: Mapped[float | None] = mapped_column(Float)
    bps_normalised: Mapped[float | None] = mapped_column(Float)
    latent_pain: Mapped[float | None] = mapped_column(Float)
    consensus_score: Mapped[float | None] = mapped_column(Float)
    rater_spread: Mapped[float | None] = mapped_column(Float)
    n_ratings: Mapped[int] = mapped_column(Integer, default=0)
    needs_adjudication: Mapped[bool] = mapped_column(Boolean, default=False)
    # True: the nurse's BPS was entered before the AI score of this session was shown;
    # False: the AI was on screen first; None: unknown (imported data, no BPS yet).
    bps_blind_to_ai: Mapped[bool | None] = mapped_column(Boolean)
    # A voided session is kept (audit) but excluded from every count, queue and export.
    voided_at: Mapped[datetime | None] = mapped_column(DateTime)
    voided_by: Mapped[str | None] = mapped_column(String(100))
    void_reason: Mapped[str | None] = mapped_column(Text)

    subject: Mapped[Subject] = relationship(back_populates="sessions")
    media: Mapped[list[Media]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Media.slot",
    )
    ratings: Mapped[list[Rating]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )
    self_reports: Mapped[list[SelfReport]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )


class Media(Base):
    """A photo or video; its bytes live encrypted in the media store under ``sha256``."""

    __tablename__ = "media"
    __table_args__ = (UniqueConstraint("session_id", "slot"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[str] = mapped_column(String(64))  # file name in the session, e.g. photo_1.jpg
    kind: Mapped[str] = mapped_column(String(8))  # photo | video
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    capture_device: Mapped[str | None] = mapped_column(String(200))
    warning: Mapped[str | None] = mapped_column(Text)
    session: Mapped[Session] = relationship(back_populates="media")


class Rating(Base):
    __tablename__ = "rating"
    __table_args__ = (UniqueConstraint("session_id", "rater"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    rater: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    scale: Mapped[str] = mapped_column(String(16))
    raw_score: Mapped[float] = mapped_column(Float)
    normalised: Mapped[float] = mapped_column(Float)
    blinded: Mapped[bool] = mapped_column(Boolean, default=False)
    # An adjudication is a rating beyond the set of 3, given by a researcher with a reason;
    # it settles a disputed session instead of silently moving the mean.
    adjudication: Mapped[bool] = mapped_column(Boolean, default=False)
    adjudication_reason: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(DateTime)
    session: Mapped[Session] = relationship(back_populates="ratings")


class SelfReport(Base):
    """The child's own score: kept apart from the professionals' consensus."""

    __tablename__ = "self_report"
    __table_args__ = (UniqueConstraint("session_id", "scale"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    scale: Mapped[str] = mapped_column(String(16))
    raw_score: Mapped[float] = mapped_column(Float)
    normalised: Mapped[float] = mapped_column(Float)
    session: Mapped[Session] = relationship(back_populates="self_reports")


class Analgesic(Base):
    """Clinical data: one administration of an analgesic."""

    __tablename__ = "analgesic"
    __table_args__ = (UniqueConstraint("subject_id", "drug", "given_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL"), index=True
    )
    drug: Mapped[str] = mapped_column(String(100))
    dose_mg: Mapped[float | None] = mapped_column(Float)
    route: Mapped[str | None] = mapped_column(String(32))
    given_at: Mapped[datetime] = mapped_column(DateTime)
    subject: Mapped[Subject] = relationship(back_populates="analgesics")


class DerivedArtifact(Base):
    """A file pedpain made from a child's data outside the media store (faces, shards,
    manifests, decrypted exports): withdrawal finds and erases them through this table."""

    __tablename__ = "derived_artifact"
    __table_args__ = (UniqueConstraint("subject_id", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)  # absolute
    kind: Mapped[str] = mapped_column(String(32))
    subject_column: Mapped[str | None] = mapped_column(String(64))  # for kind "manifest"
    stage: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ModelRun(Base):
    """A trained model and (through ModelRunSubject) the children whose data it used."""

    __tablename__ = "model_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    withdrawn_subjects: Mapped[int] = mapped_column(Integer, default=0)


class ModelRunSubject(Base):
    __tablename__ = "model_run_subject"
    model_run_id: Mapped[int] = mapped_column(
        ForeignKey("model_run.id", ondelete="CASCADE"), primary_key=True
    )
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AuditEntry(Base):
    """Who did what to which subject's data, when and why. Never deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject_action", "subject_code", "action"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_code: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


class Correction(Base):
    """One correction of recorded study data: which record and field, the old and new
    value (JSON), who, when and why. Corrections are never edited or deleted by hand; the
    row goes only with the child (consent withdrawal erases everything recorded about it).

    ``entity`` is ``subject`` (an enrolment field), ``session`` (``voided`` or
    ``subject`` when a session moves to the right child) or ``rating`` (a rater amending
    their own score); ``entity_key`` is the subject, session code or ``SESSION/RATER``.
    """

    __tablename__ = "correction"
    __table_args__ = (Index("ix_correction_entity", "entity", "entity_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    subject_code: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(16))  # subject | session | rating
    entity_key: Mapped[str] = mapped_column(String(160))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)  # JSON
    new_value: Mapped[str | None] = mapped_column(Text)  # JSON
    reason: Mapped[str] = mapped_column(Text)
