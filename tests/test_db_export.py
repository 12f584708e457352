"""`pedpain db export`: the training manifest, split by child, no identities, media only
when asked, written atomically."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from db_fixtures import DbEnv
from oapc_fixture import CohortSpec
from pedpain.store import MANIFEST_COLUMNS, assign_splits, import_cohort, read_manifest
from pedpain.store.models import AuditEntry, DerivedArtifact


def test_export_writes_a_subject_wise_manifest(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    folder = CohortSpec.default(5).write(tmp_path / "cohort")
    assert cli("db", "import", folder).code == 0
    out = tmp_path / "export"
    r = cli("db", "export", "--out", out, "--folds", "3", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["items"] == 5 * 4 * 4 and doc["subjects"] == 5
    assert doc["test_subjects"] == 1 and doc["train_subjects"] == 4 and doc["synthetic"]
    rows = read_manifest(out / "manifest.csv")
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert len(rows) == 80 and {r["kind"] for r in rows} == {"photo", "video"}
    by_subject: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        by_subject.setdefault(row["subject_code"], set()).add((row["split"], row["fold"]))
        assert row["path"] == ""  # no media unless asked
        assert 0 <= float(row["label"]) <= 10
    assert all(len(v) == 1 for v in by_subject.values())  # a child never straddles splits
    assert {f for v in by_subject.values() for _, f in v} == {"0", "1", "2"}
    text = (out / "manifest.csv").read_text() + (out / "subjects.csv").read_text()
    assert "birth" not in text and "2026-03" not in text  # no birth dates, no clock times
    assert not (out / "media").exists()
    assert json.loads((out / "export.json").read_text())["format"] == "pedpain-oapc-manifest"


def test_export_with_media_decrypts_registers_and_audits(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    folder = CohortSpec.default(2).write(tmp_path / "cohort")
    assert cli("db", "import", folder).code == 0
    out = tmp_path / "export"
    assert cli("db", "export", "--out", out, "--with-media").code == 0
    rows = read_manifest(out / "manifest.csv")
    for row in rows:
        data = (out / row["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
    with dbenv.open() as store, store.session() as db:
        kinds = Counter(db.scalars(select(DerivedArtifact.kind)))
        # manifest.csv, subjects.csv and voided.csv for each of the 2 children.
        assert kinds == {"manifest": 6, "export_media": 2}
        actions = Counter(db.scalars(select(AuditEntry.action)))
        assert actions["subject.export_media"] == 2

    # Exporting again replaces the folder whole (no leftovers, nothing half written).
    assert cli("db", "export", "--out", out).code == 0
    assert not (out / "media").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export")]
    with dbenv.open() as store, store.session() as db:
        assert Counter(db.scalars(select(DerivedArtifact.kind))) == {"manifest": 6}


def test_export_refuses_a_foreign_folder(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("keep me")
    r = cli("db", "export", "--out", tmp_path / "docs")
    assert r.code == 2 and "not an earlier pedpain export" in r.err
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "keep me"


def test_splits_are_stratified_deterministic_and_80_20() -> None:
    strata = {f"S{i:03d}": f"band{i % 3}|level{i % 2}" for i in range(100)}
    a = assign_splits(strata, seed=1)
    assert a == assign_splits(strata, seed=1)
    assert a != assign_splits(strata, seed=2)
    tests = [c for c, x in a.items() if x.split == "test"]
    assert len(tests) == 20
    per_stratum = Counter(strata[c] for c in tests)
    sizes = Counter(strata.values())
    for stratum, n in sizes.items():
        assert abs(per_stratum[stratum] - n * 0.2) <= 1
    folds = Counter(x.fold for x in a.values())
    assert sorted(folds) == [0, 1, 2, 3, 4] and set(folds.values()) == {20}


def test_manifest_rows_can_be_read_by_csv(dbenv: DbEnv, tmp_path: Path) -> None:
    from pedpain.store import export_manifest

    folder = CohortSpec.default(1).write(tmp_path / "cohort")
    with dbenv.open() as store:
        import_cohort(store, folder)
        summary = export_manifest(store, tmp_path / "x")
    with (tmp_path / "x" / "subjects.csv").open() as handle:
        subjects = list(csv.DictReader(handle))
    assert subjects[0]["items"] == "16" and summary["items"] == 16
