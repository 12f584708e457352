"""`pedpain db import`: a cohort goes in whole, reruns add nothing, bad rows are reported
with file and line while good rows still go in, ineligible children are screened out."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from db_fixtures import DbEnv
from oapc_fixture import CohortSpec, csv_line_of
from pedpain.store import collect_stats, import_cohort
from pedpain.store.media import MediaStore, load_media_key
from pedpain.store.models import AuditEntry, Media, Rating, ScreeningRejection, Session, Subject


def _count(store, model) -> int:
    with store.session() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_cohort_imports_and_stats_report_it(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    spec = CohortSpec.default(3)
    spec.add_subject("FX-PREM", age_months=40, seed=7, gestational_age_weeks=34)
    spec.add_subject("FX-ICU", age_months=50, seed=8, icu_after_surgery=1)
    folder = spec.write(tmp_path / "cohort")

    r = cli("db", "import", folder, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["synthetic"] is True
    assert doc["subjects_added"] == 3 and doc["screening_rejections"] == 2
    assert doc["screening_reasons"] == {"icu_after_surgery": 1, "premature_birth": 1}
    assert doc["added"] == {
        "consents": 3,
        "sessions": 12,
        "media": 48,
        "ratings": 36,
        "self_reports": 4,  # one 9-year-old, 4 sessions
        "analgesics": 3,
    }
    assert doc["media_files_written"] == 48 and doc["rejected_rows"] == 0
    assert doc["warnings"]["photo_below_20mp"] == 36

    r = cli("db", "stats", "--json")
    assert r.code == 0, r.err
    stats = json.loads(r.out)
    assert stats["subjects"]["enrolled"] == 3 and stats["synthetic"] is True
    assert stats["screening"] == {
        "screened": 5,
        "rejected": 2,
        "by_reason": {"icu_after_surgery": 1, "premature_birth": 1},
    }
    assert stats["sessions"]["total"] == 12 and stats["sessions"]["with_3_ratings"] == 12
    assert stats["media"] == {
        "photos": 36,
        "videos": 12,
        "photos_below_20mp": 36,
        "bytes": stats["media"]["bytes"],
    }
    rel = stats["reliability"]
    assert rel["design"] == "crossed" and rel["n_raters"] == 3 and rel["n_sessions"] == 12
    assert 0.5 < rel["icc_2_k"] <= 1.0
    assert {r["rater"] for r in rel["per_rater"]} == {"R01", "R02", "R03"}

    with dbenv.open() as store:
        with store.session() as db:
            reasons = db.scalar(
                select(ScreeningRejection.reasons).where(
                    ScreeningRejection.subject_code == "FX-PREM"
                )
            )
            assert "34 weeks" in json.loads(reasons)[0]["message"]
            session = db.scalar(select(Session).where(Session.code == "FX-0001-T1"))
            assert session is not None and session.n_ratings == 3
            scores = sorted(
                db.scalars(select(Rating.normalised).where(Rating.session_id == session.id))
            )
            assert session.consensus_score == scores[1]
            assert session.needs_adjudication == (scores[2] - scores[0] > 2)
            actions = set(db.scalars(select(AuditEntry.action)))
        assert {"subject.import", "subject.screen_out", "cohort.import", "stats.read"} <= actions


def test_rerun_adds_nothing_and_new_rows_are_merged(dbenv: DbEnv, tmp_path: Path) -> None:
    spec = CohortSpec.default(2)
    folder = spec.write(tmp_path / "cohort")
    with dbenv.open() as store:
        first = import_cohort(store, folder)
        again = import_cohort(store, folder)
        assert first.subjects_added == 2
        assert again.subjects_added == 0 and again.subjects_unchanged == 2
        assert sum(again.added.values()) == 0 and again.media_files_written == 0
        assert _count(store, Session) == 8 and _count(store, Media) == 32

        # A later export of the same site carries one more child and a 4th rater: the
        # study takes 3 ratings a session, so the 4th is refused (file and line).
        spec.add_subject("FX-0099", age_months=60, seed=5)
        spec.ratings.append(
            {
                "session_id": "FX-0001-T2",
                "rater_id": "R04",
                "rater_role": "psychologist",
                "scale": "FLACC",
                "raw_score": 10,
                "blinded": 1,
            }
        )
        spec.write(folder)
        third = import_cohort(store, folder)
        assert third.subjects_added == 1 and third.subjects_updated == 0
        assert third.added["ratings"] == 12
        assert any("already has its 3 ratings" in e.message for e in third.errors)
        with store.session() as db:
            s = db.scalar(select(Session).where(Session.code == "FX-0001-T2"))
            assert s is not None and s.n_ratings == 3


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_go_in(
    dbenv: DbEnv, tmp_path: Path, cli
) -> None:
    spec = CohortSpec.default(3)
    # A 9-year-old (FX-0002) scored on FLACC, which stops at 7 years.
    bad_rating = next(
        r for r in spec.ratings if r["session_id"] == "FX-0002-T3" and r["rater_id"] == "R02"
    )
    bad_rating["scale"] = "FLACC"
    # A session dated before the consent was signed.
    early = next(s for s in spec.sessions if s["session_id"] == "FX-0003-T4")
    early["assessed_at"] = "2026-02-01T10:00:00"
    # A photo whose bytes do not match its checksum.
    spec.media[0]["sha256"] = "0" * 64
    # An unreadable date.
    spec.sessions[1]["assessed_at"] = "yesterday"
    folder = spec.write(tmp_path / "cohort")

    r = cli("db", "import", folder, "--json")
    assert r.code == 3
    doc = json.loads(r.out)
    errors = {(e["file"], e["line"]): e["message"] for e in doc["errors"]}
    rating_line = csv_line_of(folder, "ratings.csv", "FX-0002-T3,R02")
    assert "covers 2 months to 7 y" in errors[("ratings.csv", rating_line)]
    session_line = csv_line_of(folder, "sessions.csv", "FX-0003-T4")
    assert "no consent on file on or before 2026-02-01" in errors[("sessions.csv", session_line)]
    assert "checksum mismatch" in errors[("media.csv", 2)]
    assert "not an ISO date-time" in errors[("sessions.csv", 3)]
    assert "rejected: ratings.csv:" in r.err and "row(s) rejected" in r.err

    # The good rows of the same children are in.
    assert doc["subjects_added"] == 3
    assert doc["added"]["ratings"] == 3 * 4 * 3 - 1 - 3 - 3  # -1 bad, -2 sessions x 3
    with dbenv.open() as store, store.session() as db:
        s = db.scalar(select(Session).where(Session.code == "FX-0002-T3"))
        assert s is not None and s.n_ratings == 2


def test_consent_and_assessment_window_are_screened_per_child(dbenv: DbEnv, tmp_path: Path) -> None:
    spec = CohortSpec.default(1)
    spec.add_subject("FX-NOCONS", age_months=30, seed=11)
    spec.consents = [c for c in spec.consents if c["subject_code"] != "FX-NOCONS"]
    spec.add_subject("FX-NOASSENT", age_months=100, seed=12)
    spec.consents[-1]["child_assent"] = 0
    spec.add_subject("FX-LATE", age_months=40, seed=13)
    spec.sessions[-1]["hours_since_surgery"] = 55
    folder = spec.write(tmp_path / "cohort")
    with dbenv.open() as store:
        report = import_cohort(store, folder)
        assert report.errors == [] and report.subjects_added == 1
        assert report.screening_reasons == {
            "no_consent": 1,
            "no_child_assent": 1,
            "assessment_outside_window": 1,
        }
        with store.session() as db:
            why = db.scalar(
                select(ScreeningRejection.reasons).where(
                    ScreeningRejection.subject_code == "FX-LATE"
                )
            )
        assert "session FX-LATE-T4 assessed 55 h after surgery" in json.loads(why)[0]["message"]


def test_missing_key_is_an_environment_problem(dbenv: DbEnv, tmp_path: Path, cli, monkeypatch):
    folder = CohortSpec.default(1).write(tmp_path / "cohort")
    monkeypatch.delenv("PEDPAIN_KEY_FILE")
    r = cli("db", "import", folder)
    assert r.code == 4
    assert r.err.startswith("pedpain: error: no media key") and r.err.count("\n") == 1


def test_a_wrong_key_is_refused(dbenv: DbEnv, tmp_path: Path, cli, monkeypatch) -> None:
    folder = CohortSpec.default(1).write(tmp_path / "cohort")
    assert cli("db", "import", folder).code == 0
    other = tmp_path / "other.key"
    assert cli("db", "keygen", "--out", other).code == 0
    monkeypatch.setenv("PEDPAIN_KEY_FILE", str(other))
    r = cli("db", "verify")
    assert r.code == 4 and "is not this database's media key" in r.err


def test_not_an_import_folder_is_a_usage_error(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    (tmp_path / "empty").mkdir()
    r = cli("db", "import", tmp_path / "empty")
    assert r.code == 2 and "no cohort.json" in r.err
    r = cli("db", "import", tmp_path / "nowhere")
    assert r.code == 2 and "not found" in r.err


def test_a_killed_import_leaves_staging_that_the_next_run_completes(
    dbenv: DbEnv, tmp_path: Path
) -> None:
    """What a kill between commit and rename leaves: rows committed, encrypted files still
    in a dead process's staging folder, plus a staged file of an uncommitted subject."""
    folder = CohortSpec.default(2).write(tmp_path / "cohort")
    with dbenv.open() as store:
        import_cohort(store, folder)
        media = MediaStore(store.media_root, load_media_key(store.settings))
        with store.session() as db:
            committed = db.scalars(select(Media.sha256).limit(3)).all()
        dead = store.media_root / ".staging" / "otherhost-999999-dead"
        dead.mkdir(parents=True)
        for sha in committed:  # committed but never renamed into place
            final = media.path_for(sha)
            final.rename(dead / sha)
        uncommitted = "ab" * 32
        (dead / uncommitted).write_bytes(media.encrypt(b"never committed", uncommitted))
        report = import_cohort(store, folder)
        assert report.staging == {"promoted": 3, "removed": 1}
        assert all(media.path_for(sha).is_file() for sha in committed)
        assert not dead.exists()
        assert collect_stats(store)["media"]["photos"] == 24


def test_subjects_are_all_or_nothing_and_control_children_need_no_surgery(
    dbenv: DbEnv, tmp_path: Path
) -> None:
    spec = CohortSpec.default(1)
    spec.add_subject(
        "FX-CTRL",
        age_months=48,
        seed=3,
        group="control",
        surgery_type="",
        surgery_start="",
        surgery_end="",
    )
    for s in spec.sessions:
        if s["subject_code"] == "FX-CTRL":
            s["hours_since_surgery"] = ""
    folder = spec.write(tmp_path / "cohort")
    with dbenv.open() as store:
        report = import_cohort(store, folder)
        assert report.errors == [] and report.subjects_added == 2
        with store.session() as db:
            ctrl = db.scalar(select(Subject).where(Subject.code == "FX-CTRL"))
            assert ctrl is not None and ctrl.surgery_hours is None and len(ctrl.sessions) == 4
