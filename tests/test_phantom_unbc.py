"""The UNBC-layout phantom: naming, label formats, PSPI consistency, variants, read-back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from pedpain.data.phantom.expression import pspi_from_codes
from pedpain.data.phantom.unbc import SEQUENCES, UnbcParams, generate_unbc
from pedpain.data.unbc import UnbcArchive

NUMBER = r"   \d\.\d{7}e\+\d\d"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unbc") / "tree"
    generate_unbc(out, UnbcParams(subjects=2, frames_per_sequence=9, seed=3))
    return out


def test_names_follow_the_archive(tree: Path) -> None:
    subjects = sorted(p.name for p in (tree / "Images").iterdir())
    assert subjects == ["042-ll042", "095-tv095"]  # the black-frame subject comes first
    for subj in subjects:
        seqs = sorted(p.name for p in (tree / "Images" / subj).iterdir())
        assert seqs == sorted(subj[4:9] + s for s in SEQUENCES[subj])
        for seq in seqs:
            frames = sorted(p.name for p in (tree / "Images" / subj / seq).iterdir())
            assert frames == [f"{seq}{n:03d}.png" for n in range(1, 10)]
            for name in frames:
                stem = name[:-4]
                assert (tree / "Frame_Labels/PSPI" / subj / seq / f"{stem}_facs.txt").is_file()
                assert (tree / "Frame_Labels/FACS" / subj / seq / f"{stem}_facs.txt").is_file()
                assert (tree / "AAM_landmarks" / subj / seq / f"{stem}_aam.txt").is_file()
            for scale in ("VAS", "OPR", "AFF", "SEN"):
                assert (tree / "Sequence_Labels" / scale / subj / f"{seq}.txt").is_file()


def test_label_formats_and_pspi_consistency(tree: Path) -> None:
    empty = nonempty = 0
    for pspi_file in (tree / "Frame_Labels/PSPI").rglob("*_facs.txt"):
        text = pspi_file.read_text()
        assert re.fullmatch(NUMBER + "\n", text), text
        pspi = float(text)
        assert pspi == int(pspi) and 0 <= pspi <= 16
        facs = Path(str(pspi_file).replace("/PSPI/", "/FACS/")).read_text()
        if facs == "":
            empty += 1
            assert pspi == 0
            continue
        nonempty += 1
        codes = {}
        for line in facs.splitlines():
            assert re.fullmatch(NUMBER * 4, line), line
            au, inten, a, b = (float(v) for v in line.split())
            assert (a, b) == (0, 0) and 1 <= inten <= 5
            codes[int(au)] = int(inten)
        assert pspi == pspi_from_codes(codes)
    assert empty > 0 and nonempty > 0
    for label in (tree / "Sequence_Labels").rglob("*.txt"):
        text = label.read_text()
        assert re.fullmatch(NUMBER + "\n", text)
        value = float(text)
        top = {"VAS": 10, "OPR": 5, "AFF": 15, "SEN": 15}[label.parts[-3]]
        assert value == int(value) and 0 <= value <= top
    aam = next((tree / "AAM_landmarks").rglob("*_aam.txt"))
    points = np.loadtxt(aam)
    assert points.shape == (66, 2)
    assert all(len(line.split(" ")) == 2 for line in aam.read_text().splitlines())


def test_landmarks_fit_the_face(tree: Path) -> None:
    aam = tree / "AAM_landmarks/042-ll042/ll042t1aaaff/ll042t1aaaff003_aam.txt"
    points = np.loadtxt(aam)
    image = cv2.imread(str(aam).replace("AAM_landmarks", "Images").replace("_aam.txt", ".png"))
    h, w = image.shape[:2]
    assert (points[:, 0] >= 0).all() and (points[:, 0] < w).all()
    assert (points[:, 1] >= 0).all() and (points[:, 1] < h).all()
    # iBUG order: jaw first (17), then brows above the eyes, nose tip above the mouth.
    brows_y, eyes_y = points[17:27, 1].mean(), points[36:48, 1].mean()
    assert brows_y < eyes_y < points[30, 1] < points[48:, 1].mean() < points[8, 1]
    assert points[36:42, 0].mean() < points[42:48, 0].mean()  # image-left eye first


def test_black_frames_and_read_back(tree: Path) -> None:
    seq = tree / "Images/095-tv095/tv095t2aeunaff"
    for n in range(1, 10):
        image = cv2.imread(str(seq / f"tv095t2aeunaff{n:03d}.png"))
        assert (image.max() == 0) == (n <= 7)
    summary = UnbcArchive(tree).summary().to_dict()
    assert summary["subjects"] == 2
    assert summary["sequences"] == len(SEQUENCES["042-ll042"]) + len(SEQUENCES["095-tv095"])
    assert summary["frames"] == summary["sequences"] * 9
    assert summary["black_frames"] == 7
    assert summary["has_landmarks"] and summary["has_sequence_labels"]
    assert summary["frames_pspi_positive"] > 0
    assert "SYNTHETIC" in (tree / "SYNTHETIC.txt").read_text()
    assert json.loads((tree / "phantom.json").read_text())["synthetic"] is True
    assert b"phantom" in (seq / "tv095t2aeunaff001.png").read_bytes()[:200]


@pytest.mark.parametrize("layout", ["doubled", "kaggle"])
def test_variants_are_readable(tmp_path: Path, layout: str) -> None:
    out = tmp_path / layout
    generate_unbc(out, UnbcParams(subjects=1, frames_per_sequence=2, layout=layout))
    if layout == "doubled":
        assert (out / "Images/Images/095-tv095").is_dir()
        assert (out / "Frame_Labels/Frame_Labels/PSPI").is_dir()
    else:
        assert not (out / "AAM_landmarks").exists()
        assert not (out / "Sequence_Labels").exists()
    summary = UnbcArchive(out).summary().to_dict()
    assert summary["frames"] == 2 * len(SEQUENCES["095-tv095"])
    assert summary["has_landmarks"] == (layout != "kaggle")


def test_matlab_style_landmarks(tmp_path: Path) -> None:
    out = tmp_path / "m"
    generate_unbc(out, UnbcParams(subjects=1, frames_per_sequence=1, aam_style="matlab"))
    aam = next((out / "AAM_landmarks").rglob("*_aam.txt")).read_text()
    assert re.fullmatch(f"({NUMBER}{NUMBER}\n){{66}}", aam)


def test_cli_unbc(cli, tmp_path: Path) -> None:
    out = tmp_path / "u"
    ok = cli("phantom", "unbc", out, "--subjects", "1", "--frames-per-sequence", "2", "--json")
    assert ok.code == 0, ok.err
    doc = json.loads(ok.out)
    assert doc["frames"] == 6 and doc["black_frames"] == 2
    again = cli("phantom", "unbc", out, "--subjects", "1", "--frames-per-sequence", "2", "--json")
    assert again.code == 0 and json.loads(again.out)["reused"] is True
    other = cli("phantom", "unbc", out, "--subjects", "1", "--frames-per-sequence", "3")
    assert other.code == 2 and "not empty" in other.err
    assert cli("phantom", "unbc", tmp_path / "x", "--subjects", "0").code == 2
    assert cli("phantom", "unbc", tmp_path / "y", "--layout", "zip").code == 2
