"""A real phantom cohort (`pedpain phantom oapc`) imports; the screening log agrees with the
generator's truth; the demo's database stage runs on it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from db_fixtures import DbEnv
from pedpain.pipeline.db_stage import find_cohort, import_into_demo_db
from pedpain.store import import_cohort
from pedpain.store.models import ScreeningRejection

pytestmark = pytest.mark.slow

#: The generator's violation names -> pedpain's screening codes.
VIOLATION_CODES = {
    "premature": "premature_birth",
    "neurological": "neurological_disease",
    "icu": "icu_after_surgery",
    "age14": "age_14_or_over",
    "short_surgery": "surgery_2h_or_less",
    "window": "assessment_outside_window",
}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "cohort"
    from pedpain.data.phantom.oapc import CohortParams, generate_cohort

    # Small photos and no videos: the import is what is tested here, not the renderer.
    generate_cohort(out, CohortParams(subjects=8, videos=False, photo_size="small"))
    assert (out / "cohort.json").is_file()
    return out


def test_a_phantom_cohort_imports_and_screening_matches_its_truth(
    dbenv: DbEnv, phantom: Path, cli
) -> None:
    r = cli("db", "import", phantom, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["synthetic"] is True and doc["rejected_rows"] == 0

    with (phantom / "truth" / "subjects.csv").open() as handle:
        truth = {row["subject_code"]: row for row in csv.DictReader(handle)}
    with (phantom / "consents.csv").open() as handle:
        withdrawn = {r["subject_code"] for r in csv.DictReader(handle) if r["event"] == "withdrawn"}
    stats = json.loads(cli("db", "stats", "--json").out)
    ineligible = {c for c, row in truth.items() if row["eligible"] == "0"} - withdrawn
    assert stats["screening"]["rejected"] == len(ineligible)
    assert stats["withdrawn"] == len(withdrawn)
    assert stats["subjects"]["enrolled"] + len(ineligible) + len(withdrawn) == 8
    with dbenv.open() as store, store.session() as db:
        logged = {
            r.subject_code: {x["code"] for x in json.loads(r.reasons)}
            for r in db.scalars(select(ScreeningRejection))
        }
    assert set(logged) == ineligible
    for code in ineligible:
        assert VIOLATION_CODES[truth[code]["violation"]] in logged[code], code
    rel = stats["reliability"]
    # The phantom draws 3 of 6 raters per session: raters vary, so one-way (case 1).
    assert rel["model"] == "one-way" and rel["icc"] == "ICC(1,k)" and rel["icc_k"] is not None
    assert rel["design"] == "varying" and rel["icc_2_k"] is None
    assert stats["synthetic"] is True

    # Importing again changes nothing.
    again = json.loads(cli("db", "import", phantom, "--json").out)
    assert again["subjects_added"] == 0 and sum(again["added"].values()) == 0


def test_the_demo_database_stage_runs_on_the_phantom(phantom: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    (workdir / "02-phantom").mkdir(parents=True)
    (workdir / "02-phantom" / "cohort").symlink_to(phantom, target_is_directory=True)
    stage = workdir / "03-database"
    stage.mkdir()
    summary = import_into_demo_db(stage, find_cohort(workdir))
    assert summary["subjects_enrolled"] > 0 and summary["manifest_items"] > 0
    assert Path(summary["manifest"]).is_file() and Path(summary["stats"]).is_file()


def test_the_demo_database_stage_on_a_fixture_cohort(tmp_path: Path) -> None:
    from oapc_fixture import CohortSpec

    CohortSpec.default(3).write(tmp_path / "demo" / "02-phantom" / "cohort")
    stage = tmp_path / "demo" / "03-database"
    stage.mkdir()
    summary = import_into_demo_db(stage, find_cohort(tmp_path / "demo"))
    assert summary["subjects_enrolled"] == 3 and summary["manifest_items"] == 48
    assert summary["icc_2_k"] is not None


def test_import_api_on_the_phantom(dbenv: DbEnv, phantom: Path) -> None:
    with dbenv.open() as store:
        report = import_cohort(store, phantom)
    assert report.subjects_added > 0 and not report.errors
