"""Initial OAPC-FEI schema: subjects, consent, sessions, media, ratings, self-reports,
analgesics, screening log, derived artefacts, model runs, audit log.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_code", sa.String(length=32), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_audit_log_subject_action", ["subject_code", "action"], unique=False
        )

    op.create_table(
        "cohort",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("generator", sa.String(length=200), nullable=True),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort")),
    )
    op.create_table(
        "model_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_subjects", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_run")),
    )
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_meta")),
    )
    op.create_table(
        "screening_rejection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_code", sa.String(length=32), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.Column("group", sa.String(length=16), nullable=True),
        sa.Column("age_months", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("screened_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohort.id"],
            name=op.f("fk_screening_rejection_cohort_id_cohort"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_rejection")),
        sa.UniqueConstraint("subject_code", name=op.f("uq_screening_rejection_subject_code")),
    )
    op.create_table(
        "subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("group", sa.String(length=16), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("age_months", sa.Integer(), nullable=False),
        sa.Column("gestational_age_weeks", sa.Float(), nullable=True),
        sa.Column("surgery_type", sa.String(length=16), nullable=True),
        sa.Column("surgery_start", sa.DateTime(), nullable=True),
        sa.Column("surgery_end", sa.DateTime(), nullable=True),
        sa.Column("surgery_hours", sa.Float(), nullable=True),
        sa.Column("neurological_disease", sa.Boolean(), nullable=False),
        sa.Column("muscular_disease", sa.Boolean(), nullable=False),
        sa.Column("psychiatric_disease", sa.Boolean(), nullable=False),
        sa.Column("intraop_cardiac_arrest", sa.Boolean(), nullable=False),
        sa.Column("icu_after_surgery", sa.Boolean(), nullable=False),
        sa.Column("non_cooperative", sa.Boolean(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohort.id"],
            name=op.f("fk_subject_cohort_id_cohort"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject")),
        sa.UniqueConstraint("code", name=op.f("uq_subject_code")),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("guardian_consent", sa.Boolean(), nullable=False),
        sa.Column("child_assent", sa.Boolean(), nullable=True),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_consent_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.UniqueConstraint(
            "subject_id", "event", "on_date", "version", name=op.f("uq_consent_subject_id")
        ),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "derived_artifact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_column", sa.String(length=64), nullable=True),
        sa.Column("stage", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_derived_artifact_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derived_artifact")),
        sa.UniqueConstraint("subject_id", "path", name=op.f("uq_derived_artifact_subject_id")),
    )
    with op.batch_alter_table("derived_artifact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_derived_artifact_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "model_run_subject",
        sa.Column("model_run_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_run_id"],
            ["model_run.id"],
            name=op.f("fk_model_run_subject_model_run_id_model_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_model_run_subject_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_run_id", "subject_id", name=op.f("pk_model_run_subject")),
    )
    with op.batch_alter_table("model_run_subject", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_run_subject_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("time_point", sa.String(length=16), nullable=False),
        sa.Column("assessed_at", sa.DateTime(), nullable=False),
        sa.Column("hours_since_surgery", sa.Float(), nullable=True),
        sa.Column("bps_scale", sa.String(length=16), nullable=True),
        sa.Column("bps_score", sa.Float(), nullable=True),
        sa.Column("bps_normalised", sa.Float(), nullable=True),
        sa.Column("latent_pain", sa.Float(), nullable=True),
        sa.Column("consensus_score", sa.Float(), nullable=True),
        sa.Column("rater_spread", sa.Float(), nullable=True),
        sa.Column("n_ratings", sa.Integer(), nullable=False),
        sa.Column("needs_adjudication", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_session_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session")),
        sa.UniqueConstraint("code", name=op.f("uq_session_code")),
    )
    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "analgesic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("drug", sa.String(length=100), nullable=False),
        sa.Column("dose_mg", sa.Float(), nullable=True),
        sa.Column("route", sa.String(length=32), nullable=True),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_analgesic_session_id_session"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
            name=op.f("fk_analgesic_subject_id_subject"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analgesic")),
        sa.UniqueConstraint("subject_id", "drug", "given_at", name=op.f("uq_analgesic_subject_id")),
    )
    with op.batch_alter_table("analgesic", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analgesic_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analgesic_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("capture_device", sa.String(length=200), nullable=True),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_media_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("session_id", "slot", name=op.f("uq_media_session_id")),
    )
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_sha256"), ["sha256"], unique=False)

    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("rater", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("raw_score", sa.Float(), nullable=False),
        sa.Column("normalised", sa.Float(), nullable=False),
        sa.Column("blinded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_rating_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating")),
        sa.UniqueConstraint("session_id", "rater", name=op.f("uq_rating_session_id")),
    )
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rating_session_id"), ["session_id"], unique=False)

    op.create_table(
        "self_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("raw_score", sa.Float(), nullable=False),
        sa.Column("normalised", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["session.id"],
            name=op.f("fk_self_report_session_id_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_report")),
        sa.UniqueConstraint("session_id", "scale", name=op.f("uq_self_report_session_id")),
    )
    with op.batch_alter_table("self_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_self_report_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("self_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_self_report_session_id"))

    op.drop_table("self_report")
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rating_session_id"))

    op.drop_table("rating")
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_sha256"))
        batch_op.drop_index(batch_op.f("ix_media_session_id"))

    op.drop_table("media")
    with op.batch_alter_table("analgesic", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analgesic_subject_id"))
        batch_op.drop_index(batch_op.f("ix_analgesic_session_id"))

    op.drop_table("analgesic")
    with op.batch_alter_table("session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_subject_id"))

    op.drop_table("session")
    with op.batch_alter_table("model_run_subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_run_subject_subject_id"))

    op.drop_table("model_run_subject")
    with op.batch_alter_table("derived_artifact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_derived_artifact_subject_id"))

    op.drop_table("derived_artifact")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_subject_id"))

    op.drop_table("consent")
    op.drop_table("subject")
    op.drop_table("screening_rejection")
    op.drop_table("store_meta")
    op.drop_table("model_run")
    op.drop_table("cohort")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject_action")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
