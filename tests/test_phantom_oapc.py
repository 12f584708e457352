"""The phantom OAPC-FEI cohort: the import layout, the study design, determinism, resume."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import cv2
import pytest

from pedpain.clinical.scales import recommended_scale
from pedpain.data.phantom.oapc import TABLE_COLUMNS, CohortParams, generate_cohort

SMALL = {"photo_size": "small", "video_seconds": 2.0}


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("oapc") / "cohort"
    generate_cohort(out, CohortParams(subjects=9, seed=5, **SMALL))
    return out


def test_layout_matches_the_import_doc(cohort: Path) -> None:
    doc = json.loads((cohort / "cohort.json").read_text())
    assert doc["format"] == "pedpain-oapc-import" and doc["version"] == 1
    assert doc["synthetic"] is True and doc["seed"] == 5 and doc["site"] == "PHANTOM"
    assert "SYNTHETIC" in (cohort / "SYNTHETIC.txt").read_text()
    for name, columns in TABLE_COLUMNS.items():
        with (cohort / f"{name}.csv").open(encoding="utf-8") as handle:
            assert tuple(next(csv.reader(handle))) == columns, name
    top = {p.name for p in cohort.iterdir()}
    assert top == {f"{n}.csv" for n in TABLE_COLUMNS} | {
        "cohort.json", "SYNTHETIC.txt", "media", "truth"
    }  # fmt: skip
    media = read(cohort / "media.csv")
    for row in media:
        path = cohort / row["path"]
        assert re.fullmatch(
            r"media/PH-\d{4}/PH-\d{4}-T\d/(photo_[123]\.jpg|video\.mp4)", row["path"]
        )
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        assert row["capture_device"] == "phantom-renderer"
    photo = next(r for r in media if r["kind"] == "photo")
    data = (cohort / photo["path"]).read_bytes()
    assert b"SYNTHETIC" in data[:200]  # JPEG comment segment
    assert cv2.imread(str(cohort / photo["path"])).shape == (512, 768, 3)
    video = next(r for r in media if r["kind"] == "video")
    capture = cv2.VideoCapture(str(cohort / video["path"]))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == int(video["frames"]) == 50 and float(video["fps"]) == 25


def test_study_design(cohort: Path) -> None:
    subjects = {r["subject_code"]: r for r in read(cohort / "subjects.csv")}
    sessions = read(cohort / "sessions.csv")
    ratings = read(cohort / "ratings.csv")
    truth = {r["subject_code"]: r for r in read(cohort / "truth" / "subjects.csv")}
    assert len(subjects) == 9
    assert all(re.fullmatch(r"[A-Z0-9-]{3,32}", code) for code in subjects)
    assert all(r["synthetic"] == "1" for r in subjects.values())
    assert {r["group"] for r in subjects.values()} == {"control", "experimental"}
    for code, row in subjects.items():
        own = [s for s in sessions if s["subject_code"] == code]
        if row["group"] == "control":
            assert [s["time_point"] for s in own] == ["no_pain"] and row["surgery_type"] == ""
        else:
            assert [s["time_point"] for s in own] == ["pain", "relieved", "unrelieved", "no_pain"]
            assert row["surgery_type"] in ("abdominal", "orthopaedic")
        scale = recommended_scale(int(row["age_months"]))
        for s in own:
            mine = [r for r in ratings if r["session_id"] == s["session_id"]]
            assert len(mine) == 3 and len({r["rater_id"] for r in mine}) == 3
            assert {r["scale"] for r in mine} == {scale.code} == {s["bps_scale"]}
            assert 0 <= float(s["latent_pain"]) <= 10
    # Rule breakers: subjects 4 and 8 (index 3 and 7) are premature and neurological.
    assert float(subjects["PH-0004"]["gestational_age_weeks"]) < 37
    assert subjects["PH-0008"]["neurological_disease"] == "1"
    assert truth["PH-0004"]["violation"] == "premature" and truth["PH-0001"]["eligible"] == "1"
    latent = {s["time_point"]: [] for s in sessions}
    for s in sessions:
        latent[s["time_point"]].append(float(s["latent_pain"]))
    assert min(latent["pain"]) > max(latent["no_pain"])
    ages = {s["session_id"]: int(subjects[s["subject_code"]]["age_months"]) for s in sessions}
    for r in read(cohort / "self_reports.csv"):
        assert ages[r["session_id"]] >= 72 and r["scale"] in ("FPS-R", "NRS", "VAS")
    consents = read(cohort / "consents.csv")
    assert sum(c["event"] == "withdrawn" for c in consents) == 1
    assert {c["subject_code"] for c in consents if c["event"] == "given"} == set(subjects)
    assert read(cohort / "clinical.csv")


def test_every_rule_breaker_kind_appears(tmp_path: Path) -> None:
    from pedpain.data.phantom.oapc import VIOLATIONS, _plan_subject

    params = CohortParams(subjects=24, seed=1)
    plans = [_plan_subject(params, i) for i in range(24)]
    assert {p["violation"] for p in plans} - {None} == set(VIOLATIONS)
    for p in plans:
        subject, v = p["subject"], p["violation"]
        if v == "age14":
            assert subject["age_months"] >= 168
        if v == "icu":
            assert subject["icu_after_surgery"] == 1
        if v == "short_surgery":
            assert subject["group"] == "experimental"
        if v == "window":
            hours = [s["hours_since_surgery"] for s in p["sessions"]]
            assert any(h < 6 or h > 48 for h in hours)
        if v is None and subject["group"] == "experimental":
            assert all(6 <= s["hours_since_surgery"] <= 48 for s in p["sessions"])
    assert all(p["subject"]["age_months"] < 168 for p in plans if p["violation"] != "age14")


@pytest.mark.slow
def test_same_seed_same_files_and_resume_after_a_kill(tmp_path: Path) -> None:
    params = CohortParams(subjects=2, seed=11, photo_size="small", video_seconds=0.8)
    clean = tmp_path / "clean"
    generate_cohort(clean, params)

    class Killed(Exception):
        pass

    def die_after_first(done: int, total: int) -> None:
        if done == 1:
            raise Killed

    resumed = tmp_path / "resumed"
    with pytest.raises(Killed):
        generate_cohort(resumed, params, progress=die_after_first)
    assert not resumed.exists() and (tmp_path / "resumed.partial").is_dir()
    summary = generate_cohort(resumed, params)
    assert summary["subjects"] == 2 and not (tmp_path / "resumed.partial").exists()
    for name in ("media.csv", "sessions.csv", "ratings.csv", "cohort.json", "truth/frames.csv"):
        assert (clean / name).read_bytes() == (resumed / name).read_bytes(), name
    other = tmp_path / "other"
    generate_cohort(other, CohortParams(subjects=2, seed=12, videos=False, photo_size="small"))
    assert (clean / "media.csv").read_bytes() != (other / "media.csv").read_bytes()


def test_cli_oapc_and_bad_input(cli, tmp_path: Path) -> None:
    out = tmp_path / "c"
    args = ("phantom", "oapc", out, "--subjects", "2", "--photo-size", "small", "--no-videos")
    ok = cli(*args, "--json")
    assert ok.code == 0, ok.err
    doc = json.loads(ok.out)
    assert doc["subjects"] == 2 and doc["synthetic"] is True and doc["reused"] is False
    assert not any(r["kind"] == "video" for r in read(out / "media.csv"))
    again = cli(*args, "--json")
    assert again.code == 0 and json.loads(again.out)["reused"] is True
    different = cli("phantom", "oapc", out, "--subjects", "3", "--no-videos")
    assert different.code == 2 and "not empty" in different.err
    assert len(different.err.strip().splitlines()) == 1
    assert cli("phantom", "oapc", tmp_path / "z", "--subjects", "0").code == 2
    assert cli("phantom", "oapc", tmp_path / "z", "--photo-size", "huge").code == 2
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    unwritable = cli("phantom", "oapc", blocker / "sub", "--subjects", "1", "--no-videos")
    assert unwritable.code == 2 and "cannot write" in unwritable.err


@pytest.mark.slow
def test_large_photos_by_default(tmp_path: Path) -> None:
    out = tmp_path / "big"
    generate_cohort(out, CohortParams(subjects=2, seed=2, videos=False))
    photos = [r for r in read(out / "media.csv") if r["kind"] == "photo"]
    assert all(int(r["width"]) * int(r["height"]) > 20e6 for r in photos)
    from pedpain.data.phantom.landmarks import detect_faces

    image = cv2.cvtColor(cv2.imread(str(out / photos[0]["path"])), cv2.COLOR_BGR2RGB)
    assert image.shape == (3744, 5616, 3)
    assert detect_faces(image)
