"""`pedpain preprocess` end to end: contract outputs, exit codes, resume after a kill,
unicode paths, worker pool and Ray."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pedpain.vision.pipeline import CONTRACT_FRAME_COLUMNS, FRAME_COLUMNS, ITEM_COLUMNS
from vision_media import cat, grace, save, write_video


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "séance 1 ✓"  # unicode and spaces on purpose
    save(folder / "grâce hopper.jpg", grace())
    save(folder / "chat.png", cat())
    write_video(folder / "clip un.mp4", 2, 30, (320, 240))
    (folder / "notes.jpg").write_text("not a photo")
    (folder / "empty.png").write_bytes(b"")
    return folder


def test_contract_outputs_and_exit_3(cli, mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "out dir"
    r = cli("preprocess", mixed, "--out", out, "--json")
    assert r.code == 3, r.err
    doc = json.loads(r.out)
    assert {"items", "ok", "rejected", "frames_out", "seconds"} <= set(doc)
    assert (doc["items"], doc["ok"], doc["rejected"]) == (5, 2, 3)
    assert "rejected" in r.err and "Traceback" not in r.err
    assert _header(out / "items.csv") == list(ITEM_COLUMNS)
    header = _header(out / "frames.csv")
    assert header[: len(CONTRACT_FRAME_COLUMNS)] == list(CONTRACT_FRAME_COLUMNS)
    assert header == list(FRAME_COLUMNS)
    items = {Path(r["input"]).name: r for r in _rows(out / "items.csv")}
    assert items["grâce hopper.jpg"]["status"] == "ok"
    assert items["chat.png"]["status"] == "no_face"
    assert items["notes.jpg"]["status"] == "unsupported"
    assert items["empty.png"]["status"] == "unreadable"
    clip = items["clip un.mp4"]
    assert (clip["kind"], clip["status"], clip["frames_out"], clip["fps_in"]) == (
        "video",
        "ok",
        "50",
        "30.0",
    )
    assert float(clip["duration_out_s"]) == 2.0
    frames = _rows(out / "frames.csv")
    assert len(frames) == doc["frames_out"] == 52
    for row in frames:
        if row["path"]:
            img = cv2.imread(str(out / row["path"]))
            assert img is not None and img.shape == (256, 256, 3)
        else:
            assert row["reason"] == "no_face" and row["valid"] == "0"
    record = json.loads((out / "preprocess.json").read_text())
    assert (
        record["parameters"]["size"] == 256
        and "clahe_luminance" in record["photometric_steps_in_images"]
    )


def test_all_ok_exit_0_and_rerun_reuses(cli, tmp_path: Path) -> None:
    photo = save(tmp_path / "g.jpg", grace())
    r = cli("preprocess", photo, "--out", "o", "--size", "128", "--no-clahe", "--json")
    assert r.code == 0, r.err
    again = json.loads(
        cli("preprocess", photo, "--out", "o", "--size", "128", "--no-clahe", "--json").out
    )
    assert again["reused"] == 1 and again["ok"] == 1
    assert json.loads(Path("o/preprocess.json").read_text())["parameters"]["clahe"] is False
    # an output folder inside the input folder is never read back as input
    nested = json.loads(
        cli("preprocess", ".", "--out", "o", "--size", "128", "--no-clahe", "--json").out
    )
    assert nested["items"] == 1
    # other parameters: processed anew, not reused
    third = json.loads(cli("preprocess", photo, "--out", "o", "--size", "96", "--json").out)
    assert third["reused"] == 0


def test_bad_usage_exit_2(cli, tmp_path: Path) -> None:
    photo = save(tmp_path / "g.jpg", grace())
    (tmp_path / "empty").mkdir()
    assert cli("preprocess", photo, "--out", "o", "--size", "5").code == 2
    assert cli("preprocess", photo, "--out", "o", "--size", "100000").code == 2
    assert cli("preprocess", tmp_path / "missing.jpg", "--out", "o").code == 2
    r = cli("preprocess", tmp_path / "empty", "--out", "o")
    assert r.code == 2 and "no photos or videos" in r.err
    assert cli("preprocess", photo, "--out", "o", "--face-policy", "loudest").code == 2
    assert cli("preprocess", photo, "--out", "o", "--detector", "dlib").code == 2


def test_too_large_status(cli, tmp_path: Path) -> None:
    from test_vision_reading import _png_header_only

    (tmp_path / "bomb.png").write_bytes(_png_header_only(90_000, 90_000))
    r = cli("preprocess", tmp_path / "bomb.png", "--out", "o", "--json")
    assert r.code == 3
    assert _rows(Path("o/items.csv"))[0]["status"] == "too_large"


def _preprocess_cmd(*args: object) -> list[str]:
    code = "import sys; from pedpain.cli.main import run; sys.exit(run(sys.argv[1:]))"
    return [sys.executable, "-c", code, "preprocess", *map(str, args)]


@pytest.mark.slow
def test_killed_run_resumes_without_half_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for i in range(6):
        write_video(folder / f"clip{i}.mp4", 3, 25, (320, 240), background=60 + 10 * i)
    out = tmp_path / "out"
    proc = subprocess.Popen(_preprocess_cmd(folder, "--out", out), stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / ".parts").glob("*.json"))) < 2:
        time.sleep(0.05)
    time.sleep(0.2)  # kill in the middle of the next file
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / ".parts").glob("*.json")))
    assert 2 <= done_before < 6
    assert not (out / "items.csv").exists()
    for img in (out / "faces").rglob("*.jpg"):  # every image under a final name is whole
        assert cv2.imread(str(img)) is not None
    result = subprocess.run(
        _preprocess_cmd(folder, "--out", out, "--json"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["items"] == 6 and doc["ok"] == 6 and doc["frames_out"] == 6 * 75
    assert doc["reused"] == done_before
    assert not list(out.rglob("*.tmp"))
    assert len(_rows(out / "frames.csv")) == 450


@pytest.mark.slow
def test_worker_pool_same_results_as_one_worker(cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    save(folder / "g.jpg", grace())
    for i in range(2):
        write_video(folder / f"c{i}.mp4", 1, 25, (320, 240), background=50 + 40 * i)
    one = json.loads(cli("preprocess", folder, "--out", "one", "--json").out)
    two = json.loads(cli("preprocess", folder, "--out", "two", "--workers", "2", "--json").out)
    assert {k: one[k] for k in ("items", "ok", "frames_out", "valid_frames")} == {
        k: two[k] for k in ("items", "ok", "frames_out", "valid_frames")
    }
    assert _rows(Path("one/items.csv")) == [
        {**r, "input": r["input"]} for r in _rows(Path("two/items.csv"))
    ]


@pytest.mark.slow
def test_ray_engine_local_cluster(cli, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    folder = tmp_path / "in"
    save(folder / "g.jpg", grace())
    write_video(folder / "c.mp4", 1, 25, (320, 240))
    r = cli("preprocess", folder, "--out", "o", "--engine", "ray", "--workers", "2", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["items"] == 2 and doc["frames_out"] == 26
    assert {row["input"] for row in _rows(Path("o/items.csv"))} == {
        str(folder / "c.mp4"),
        str(folder / "g.jpg"),
    }


def test_mediapipe_start_up_chatter_stays_off_stderr(tmp_path: Path) -> None:
    """MediaPipe's C++ code writes start-up lines straight to file descriptor 2; a user
    must see only pedpain's own messages (here: none)."""
    save(tmp_path / "in" / "a.jpg", grace())
    write_video(tmp_path / "in" / "b.mp4", 1, 25, (320, 240))
    code = "import sys; from pedpain.cli.main import run; sys.exit(run(sys.argv[1:]))"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "preprocess",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "o"),
            "--workers",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["valid_frames"] >= 20
    for noise in ("XNNPACK", "W0000", "absl::InitializeLog", "landmark_projection"):
        assert noise not in out.stderr, out.stderr


def test_mediapipe_results_are_independent_objects() -> None:
    from pedpain.vision.mp_solutions import mediapipe, quiet

    detector = quiet(lambda: mediapipe().solutions.face_detection.FaceDetection(model_selection=1))
    try:
        first = detector.process(grace())
        second = detector.process(np.zeros((64, 64, 3), np.uint8))
        assert first.detections and second.detections is None
    finally:
        detector.close()


def test_a_failure_inside_pedpain_is_exit_1_not_a_rejection(
    cli, tmp_path: Path, monkeypatch
) -> None:
    from pedpain.vision import pipeline

    save(tmp_path / "in" / "a.jpg", grace())

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(pipeline, "_process", broken)
    r = cli("preprocess", tmp_path / "in", "--out", tmp_path / "o")
    assert r.code == 1
    assert "failed inside pedpain" in r.err.strip().splitlines()[-1]
    assert "Traceback" not in r.err
    with (tmp_path / "o" / "items.csv").open(newline="", encoding="utf-8") as handle:
        (item,) = list(csv.DictReader(handle))
    assert "processing failed (RuntimeError: simulated bug)" in item["message"]


def test_missing_face_model_is_one_environment_error(cli, tmp_path: Path, monkeypatch) -> None:
    """A broken installation stops the run once (exit 4, one line), before any file is
    processed, instead of failing every file the same way."""
    from pedpain.vision import tflite

    save(tmp_path / "in" / "a.jpg", grace())
    save(tmp_path / "in" / "b.jpg", grace())
    models = dict(tflite.MEDIAPIPE_MODELS, face_landmark=Path("modules/nowhere/gone.tflite"))
    monkeypatch.setattr(tflite, "MEDIAPIPE_MODELS", models)
    r = cli("preprocess", tmp_path / "in", "--out", "o")
    assert r.code == 4
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "gone.tflite" in lines[0], r.err
    assert not Path("o/items.csv").exists()
    # the Haar backend needs none of them
    assert cli("preprocess", tmp_path / "in", "--out", "o", "--detector", "haar").code == 0
