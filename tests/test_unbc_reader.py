from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pedpain.core.errors import UsageError
from pedpain.data.unbc import (
    UnbcArchive,
    parse_facs,
    parse_landmarks,
    parse_matlab_number,
    pspi_from_aus,
)


def _num(v: float) -> str:
    return f"   {v:.7e}\n"


def make_tree(
    root: Path,
    *,
    doubled: bool = False,
    kaggle: bool = False,
    crlf: bool = False,
    black: bool = True,
) -> dict:
    """A tiny tree in the licensee layout, written by hand (independent of the phantom)."""
    images = root / "Images" / "Images" if doubled else root / "Images"
    labels = root / "Frame_Labels" / "Frame_Labels" if doubled else root / "Frame_Labels"
    nl = "\r\n" if crlf else "\n"
    frames = {
        ("042-ll042", "ll042t1aaaff"): [{}, {4: 2, 6: 1, 7: 3}, {9: 1, 10: 2, 43: 1}],
        ("095-tv095", "tv095t2aeunaff"): [{}, {}, {4: 5, 6: 5, 9: 5, 43: 1}],
    }
    rng = np.random.default_rng(0)
    for (subj, seq), aus_list in frames.items():
        for i, aus in enumerate(aus_list, 1):
            stem = f"{seq}{i:03d}"
            img_dir = images / subj / seq
            img_dir.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(60, 200, size=(24, 32, 3), dtype=np.uint8)
            if black and subj == "095-tv095" and i <= 2:
                pixels[:] = 0
            cv2.imwrite(str(img_dir / f"{stem}.png"), pixels)
            pspi_dir = labels / "PSPI" / subj / seq
            facs_dir = labels / "FACS" / subj / seq
            pspi_dir.mkdir(parents=True, exist_ok=True)
            facs_dir.mkdir(parents=True, exist_ok=True)
            (pspi_dir / f"{stem}_facs.txt").write_text(_num(pspi_from_aus(aus)).replace("\n", nl))
            rows = "".join(
                f"   {au:.7e}   {v:.7e}   {0:.7e}   {0:.7e}{nl}" for au, v in aus.items()
            )
            (facs_dir / f"{stem}_facs.txt").write_text(rows)
            if not kaggle:
                aam = root / "AAM_landmarks" / subj / seq
                aam.mkdir(parents=True, exist_ok=True)
                pts = rng.uniform(0, 30, size=(66, 2))
                (aam / f"{stem}_aam.txt").write_text(
                    "".join(f"{x:.4f} {y:.4f}{nl}" for x, y in pts)
                )
        if not kaggle:
            for scale, value in (("VAS", 5), ("OPR", 2), ("AFF", 7), ("SEN", 6)):
                d = root / "Sequence_Labels" / scale / subj
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{seq}.txt").write_text(_num(value))
    return frames


def test_number_and_file_parsers():
    assert parse_matlab_number("   4.0000000e+00\r\n") == 4.0
    assert parse_facs("") == {}
    assert parse_facs(
        "   4.0000000e+00   2.0000000e+00   0.0000000e+00   0.0000000e+00\n"
        "   4.3000000e+01   0.0000000e+00   0.0000000e+00   0.0000000e+00\n"
    ) == {4: 2.0, 43: 1.0}
    assert parse_landmarks(" 1 2\n" * 66).shape == (66, 2)
    with pytest.raises(ValueError, match="66 landmark"):
        parse_landmarks("1 2\n" * 65)
    with pytest.raises(ValueError):
        parse_matlab_number("1 2")


@pytest.mark.parametrize(
    "aus, pspi",
    [
        ({}, 0),
        ({4: 2, 6: 1, 7: 3}, 5),
        ({9: 1, 10: 2, 43: 1}, 3),
        ({4: 5, 6: 5, 9: 5, 43: 1}, 16),
    ],
)
def test_pspi_formula(aus, pspi):
    assert pspi_from_aus(aus) == pspi


@pytest.mark.parametrize("variant", [{}, {"doubled": True}, {"crlf": True}])
def test_reads_full_tree(tmp_path, variant):
    make_tree(tmp_path, **variant)
    archive = UnbcArchive(tmp_path)
    s = archive.summary()
    assert (s.subjects, s.sequences, s.frames) == (2, 2, 6)
    assert s.frames_pspi_positive == 3
    assert s.pspi_histogram["5"] == 1 and s.pspi_histogram["16"] == 1 and s.pspi_histogram["0"] == 3
    assert s.black_frames == 2
    assert s.has_landmarks and s.has_sequence_labels
    frame = next(f for f in archive.frames() if f.sequence == "ll042t1aaaff" and f.number == 2)
    assert frame.aus() == {4: 2.0, 6: 1.0, 7: 3.0} and frame.pspi() == 5.0
    assert frame.landmarks().shape == (66, 2)
    assert frame.subject_id == "042"
    assert archive.sequence_labels("042-ll042", "ll042t1aaaff") == {
        "VAS": 5.0,
        "OPR": 2.0,
        "AFF": 7.0,
        "SEN": 6.0,
    }


def test_kaggle_copy_without_landmarks_or_sequence_labels(tmp_path):
    make_tree(tmp_path, kaggle=True)
    s = UnbcArchive(tmp_path).summary(scan_images=False)
    assert not s.has_landmarks and not s.has_sequence_labels
    # Without scanning only the archive's known black frames (tv095t2aeunaff001-007) count.
    assert s.black_frames == 3 and not s.black_frames_scanned


def test_summary_cli_json_matches_contract(cli, tmp_path):
    make_tree(tmp_path / "tree ünïcode")
    result = cli("unbc", "summary", str(tmp_path / "tree ünïcode"), "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    for key in (
        "root",
        "subjects",
        "sequences",
        "frames",
        "frames_pspi_positive",
        "black_frames",
        "has_landmarks",
        "has_sequence_labels",
        "pspi_histogram",
    ):
        assert key in doc
    assert set(doc["pspi_histogram"]) == {str(i) for i in range(17)}
    text = cli("unbc", "summary", str(tmp_path / "tree ünïcode"))
    assert "subjects 2, sequences 2, frames 6" in text.out


def test_bad_roots_are_usage_errors(cli, tmp_path):
    assert cli("unbc", "summary", str(tmp_path / "missing")).code == 2
    (tmp_path / "empty" / "Images").mkdir(parents=True)
    result = cli("unbc", "summary", str(tmp_path / "empty"))
    assert result.code == 2 and "no UNBC-McMaster frames" in result.err
    with pytest.raises(UsageError, match="no Images"):
        UnbcArchive(tmp_path)


def test_corrupt_label_is_reported_not_fatal(tmp_path):
    make_tree(tmp_path)
    bad = next((tmp_path / "Frame_Labels" / "PSPI").rglob("*_facs.txt"))
    bad.write_text("garbage here\n")
    s = UnbcArchive(tmp_path).summary(scan_images=False)
    assert s.frames_without_pspi == 1
    assert any("garbage" in p or str(bad) in p for p in s.problems)
