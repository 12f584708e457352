"""Consent withdrawal: no trace of the child's faces anywhere under PEDPAIN_HOME, an audit
entry kept, affected models listed, and the child never comes back on re-import."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from db_fixtures import DbEnv
from model_folders import model_meta
from oapc_fixture import CohortSpec
from pedpain.models.bundle import MODEL_FORMAT
from pedpain.store import import_cohort, read_manifest, register_derived
from pedpain.store.derived import register_trained_model
from pedpain.store.models import AuditEntry, DerivedArtifact, Session, Subject
from pedpain.training.study_db import record_in_study_database

GONE = "FX-0001"
KEPT = "FX-0002"


def _windows(data: bytes) -> list[bytes]:
    """Distinctive slices of a file: any copy of the file would contain them."""
    n = len(data)
    return [data[i : i + 48] for i in (n // 4, n // 2, 3 * n // 4)]


def _scan(home: Path, needles: list[bytes], names: set[str]) -> list[str]:
    hits = []
    for path in home.rglob("*"):
        if path.name in names:
            hits.append(f"name {path}")
        if path.is_file():
            data = path.read_bytes()
            hits.extend(f"bytes {path}" for needle in needles if needle in data)
    return hits


def _prepare(dbenv: DbEnv, tmp_path: Path, cli) -> tuple[Path, CohortSpec, dict[str, Path]]:
    spec = CohortSpec.default(3)
    folder = spec.write(tmp_path / "cohort")
    assert cli("db", "import", folder).code == 0
    export = dbenv.home / "exports" / "train"
    assert cli("db", "export", "--out", export, "--with-media").code == 0
    made: dict[str, Path] = {}
    with dbenv.open() as store:
        # What preprocessing would make: aligned face crops per child, and a shard
        # packing several children's faces.
        for code in (GONE, KEPT):
            src = folder / f"media/{code}/{code}-T1/photo_1.jpg"
            face = Image.open(src).crop((10, 10, 74, 74)).resize((64, 64))
            out = dbenv.home / "faces" / code / f"{code}-T1_photo_1.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            face.save(out)
            register_derived(store, code, out, "face", stage="preprocess")
            made[f"face-{code}"] = out
        shard = dbenv.home / "shards" / "train-000.bin"
        shard.parent.mkdir(parents=True)
        buffer = io.BytesIO()
        for code in (GONE, KEPT):
            buffer.write(made[f"face-{code}"].read_bytes())
        shard.write_bytes(buffer.getvalue())
        for code in (GONE, KEPT):
            register_derived(store, code, shard, "shard", stage="pack")
        made["shard"] = shard
        # What `pedpain train` records when its labels are this database's manifest.
        model = dbenv.home / "models" / "t1"
        model.mkdir(parents=True)
        (model / "model.json").write_text(
            json.dumps(
                {
                    **model_meta("t1"),
                    "format": MODEL_FORMAT,
                    "sha256": "0" * 64,
                    "subjects_train": [GONE, KEPT],
                    "subjects_test": ["FX-0003"],
                }
            )
        )
        labels = export / "manifest.csv"
        run_id = record_in_study_database(dbenv.settings(), labels, "transfer-v1", model, [model])
        assert run_id is not None and run_id > 0
        # Rerunning the training finds the same record; labels from elsewhere record none.
        assert (
            record_in_study_database(dbenv.settings(), labels, "transfer-v1", model, [model])
            == run_id
        )
        elsewhere = tmp_path / "labels.csv"
        elsewhere.write_text("input,subject_id,target\n")
        assert register_trained_model(store, elsewhere, "other", tmp_path / "m2", [GONE]) is None
    return folder, spec, made


def test_withdrawal_leaves_no_trace_of_the_childs_faces(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    folder, spec, made = _prepare(dbenv, tmp_path, cli)
    gone_media = [folder / m["path"] for m in spec.media if m["session_id"].startswith(GONE)]
    kept_media = [folder / m["path"] for m in spec.media if m["session_id"].startswith(KEPT)]
    needles = [w for p in gone_media for w in _windows(p.read_bytes())]
    needles += _windows(made[f"face-{GONE}"].read_bytes())
    names = {hashlib.sha256(p.read_bytes()).hexdigest() for p in gone_media}
    # Before: the child's faces are there (decrypted in the export, in faces/, in the shard)
    # and the encrypted files carry their content addresses.
    assert _scan(dbenv.home, needles, names)

    r = cli("db", "withdraw", GONE, "--reason", "guardian withdrew consent", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["status"] == "withdrawn" and doc["media_files_deleted"] == 16
    assert doc["shards_to_rebuild"] == [str(made["shard"])]
    assert [m["name"] for m in doc["models_affected"]] == ["transfer-v1"]
    actions = {a["kind"]: a["action"] for a in doc["artifacts"]}
    assert actions == {
        "manifest": "rows_removed",
        "export_media": "deleted",
        "face": "deleted",
        "shard": "deleted",
    }

    assert _scan(dbenv.home, needles, names) == []
    assert not made[f"face-{GONE}"].exists() and made[f"face-{KEPT}"].exists()
    export = dbenv.home / "exports" / "train"
    rows = read_manifest(export / "manifest.csv")
    assert rows and GONE not in {r["subject_code"] for r in rows}
    assert GONE not in (export / "subjects.csv").read_text()
    summary = json.loads((export / "export.json").read_text())
    assert summary["items"] == len(rows) and summary["recounted_after_withdrawal"] is True
    assert (
        summary["subjects"]
        == summary["train_subjects"] + summary["test_subjects"]
        == len((export / "subjects.csv").read_text().splitlines()[1:])
    )
    assert GONE not in (export / "export.json").read_text()
    assert not (export / "media" / GONE).exists()
    # The other children are untouched.
    for p in kept_media:
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        assert (dbenv.home / "media" / sha[:2] / sha).is_file()

    with dbenv.open() as store, store.session() as db:
        assert db.scalar(select(Subject).where(Subject.code == GONE)) is None
        assert db.scalar(select(func.count()).select_from(Session).where(
            Session.code.like(f"{GONE}-%"))) == 0  # fmt: skip
        assert db.scalar(select(func.count()).select_from(DerivedArtifact)) > 0
        entry = db.scalar(
            select(AuditEntry).where(
                AuditEntry.subject_code == GONE, AuditEntry.action == "subject.withdraw"
            )
        )
        assert entry is not None and entry.reason == "guardian withdrew consent"
        assert entry.actor  # the OS user
        assert "transfer-v1" in (entry.detail or "")

    # Withdrawing again is harmless; stats count the withdrawal; verify is clean.
    r = cli("db", "withdraw", GONE, "--reason", "again")
    assert r.code == 0 and "already withdrawn" in r.out
    stats = json.loads(cli("db", "stats", "--json").out)
    assert stats["withdrawn"] == 1 and stats["subjects"]["enrolled"] == 2
    assert stats["model_runs"] == {"total": 1, "affected_by_withdrawal": 1}
    assert cli("db", "verify").code == 0

    # Re-importing the original folder never brings the child back.
    r = cli("db", "import", folder, "--json")
    assert r.code == 0
    assert json.loads(r.out)["withdrawn"] == 1
    assert _scan(dbenv.home, needles, names) == []


def test_a_withdrawal_in_consents_csv_erases_the_child(dbenv: DbEnv, tmp_path: Path) -> None:
    spec = CohortSpec.default(2)
    folder = spec.write(tmp_path / "cohort")
    with dbenv.open() as store:
        import_cohort(store, folder)
        spec.consents.append(
            {
                "subject_code": GONE,
                "event": "withdrawn",
                "date": "2026-03-10",
                "guardian_consent": "",
                "child_assent": "",
                "consent_version": "",
                "reason": "family moved away",
            }
        )
        spec.write(folder)
        report = import_cohort(store, folder)
        assert report.withdrawn == 1
        with store.session() as db:
            assert db.scalar(select(Subject).where(Subject.code == GONE)) is None
            assert (
                db.scalar(select(AuditEntry.reason).where(AuditEntry.action == "subject.withdraw"))
                == "family moved away"
            )


def test_withdraw_needs_a_known_code_and_a_reason(dbenv: DbEnv, cli) -> None:
    r = cli("db", "withdraw", "NOBODY")
    assert r.code == 2 and "--reason" in r.err
    r = cli("db", "withdraw", "NOBODY", "--reason", "x")
    assert r.code == 2 and "no subject 'NOBODY'" in r.err


def test_every_read_of_subject_data_is_audited(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    folder = CohortSpec.default(1).write(tmp_path / "cohort")
    assert cli("db", "import", folder, "--actor", "nurse.kim", "--reason", "upload").code == 0
    r = cli("db", "show", GONE, "--json", "--actor", "dr.lee")
    assert r.code == 0
    assert len(json.loads(r.out)["sessions"]) == 4
    assert cli("db", "export", "--out", tmp_path / "x", "--with-media").code == 0
    assert cli("db", "verify").code == 0
    with dbenv.open() as store, store.session() as db:
        log = [
            (a.actor, a.action, a.subject_code, a.reason) for a in db.scalars(select(AuditEntry))
        ]
    assert ("nurse.kim", "subject.import", GONE, "upload") in log
    assert ("dr.lee", "subject.read", GONE, "timeline") in log
    assert any(a == "subject.export_media" and c == GONE for _, a, c, _ in log)
    assert any(a == "media.verify" for _, a, _, _ in log)
