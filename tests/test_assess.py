"""The assessment engine end to end: a tiny teacher trained here, a MobileNetV3 student
distilled from it, its ONNX export, and real photos, clips, streams and bad files."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pedpain.assess import Assessor, assess
from pedpain.assess.backend import ONNX_FILE, ONNX_META
from pedpain.assess.calibrate import calibrate_model_folder
from pedpain.assess.quality import QUALITY_FILE
from pedpain.core.errors import UsageError
from test_training import make_unbc_tree, write_config
from vision_media import astronaut, cat, grace, save, write_video

pytestmark = pytest.mark.slow


def _run(*args: str) -> tuple[int, str]:
    from pedpain.cli.main import run

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A resnet18 teacher (PSPI, 1 epoch at 64 px) and a MobileNetV3 student distilled
    from it, with a verified ONNX export in the student's folder."""
    base = tmp_path_factory.mktemp("assess-models")
    tree = make_unbc_tree(base / "unbc", frames_per_seq=6)
    cfg = write_config(base / "teacher.yaml", tree, **{"train.epochs": 1})
    code, _ = _run("train", "--config", str(cfg), "--out", str(base / "teacher"), "--json")
    assert code == 0
    cfg = write_config(
        base / "student.yaml",
        tree,
        stage="distill",
        teacher_model=str(base / "teacher"),
        name="bedside",
        **{"model.backbone": "mobilenet_v3_large", "train.epochs": 1, "train.lr": 0.001},
    )
    code, out = _run("train", "--config", str(cfg), "--out", str(base / "student"), "--json")
    assert code == 0, out
    code, out = _run("export", "onnx", "--model", str(base / "student"), "--json")
    assert code == 0, out
    return {"teacher": base / "teacher", "student": base / "student"}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("assess-media")
    clip = write_video(d / "clip.mp4", 3.0, 25)
    data = clip.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (d / "empty.jpg").write_bytes(b"")
    return {
        "grace": save(d / "grace.jpg", grace()),
        "astronaut": save(d / "astronaut.png", astronaut()),
        "cat": save(d / "cat.jpg", cat()),
        "empty": d / "empty.jpg",
        "truncated": d / "truncated.mp4",
        "clip": clip,
    }


def test_cli_scores_real_faces_and_explains_every_refusal(models, media, cli):
    r = cli(
        "assess",
        *(str(media[k]) for k in ("grace", "astronaut", "cat", "empty", "truncated")),
        "--model",
        str(models["student"]),
        "--age",
        "4y",
        "--explain",
        "--json",
    )
    assert r.code == 3, r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    docs = json.loads(r.out)
    assert [d["status"] for d in docs] == ["ok", "ok", "abstain", "error", "error"]
    sha = json.loads((models["student"] / "model.json").read_text())["sha256"]
    for d in docs:
        assert set(d) >= {
            "input", "kind", "status", "reason", "score", "pain_probability", "scale",
            "needs_treatment", "frames_used", "quality", "explanation", "model", "latency_ms",
        }  # fmt: skip
        assert d["model"]["sha256"] == sha and d["model"]["name"] == "bedside"
        assert d["model"]["backend"] == "onnx"  # the verified export is the default
    for d in docs[:2]:
        assert 0 <= d["score"] <= 10 and 0 <= d["pain_probability"] <= 1
        assert d["scale"]["name"] == "FLACC" and d["scale"]["max"] == 10
        assert isinstance(d["needs_treatment"], bool) and d["frames_used"] == 1
        assert "PSPI 0-16" in d["explanation"]["score_mapping"]
        assert set(d["explanation"]["measures"]) == {
            "brow_eye", "eye_aperture", "nose_lip", "mouth_open"
        }  # fmt: skip
    assert docs[2]["score"] is None and docs[2]["reason_code"] == "no_face"
    assert docs[3]["reason"].startswith("unreadable") and docs[3]["score"] is None
    assert docs[4]["kind"] == "video" and docs[4]["reason_code"] == "unreadable"


def test_without_age_no_scale_and_without_model_exit_4(models, media, cli, monkeypatch):
    r = cli("assess", str(media["grace"]), "--model", str(models["student"]), "--json")
    assert r.code == 0
    doc = json.loads(r.out)[0]
    assert doc["scale"] is None and doc["needs_treatment"] is None and doc["score"] is not None
    r = cli("assess", str(media["grace"]), "--json")
    assert r.code == 4 and r.out == "" and "no model" in r.err
    assert len(r.err.strip().splitlines()) == 1
    # The environment variable and PEDPAIN_HOME/models/active both name the default.
    monkeypatch.setenv("PEDPAIN_MODEL", str(models["student"]))
    assert cli("assess", str(media["grace"])).code == 0
    monkeypatch.delenv("PEDPAIN_MODEL")
    home = Path("home")
    shutil.copytree(models["student"], home / "models" / "active")
    assert cli("--home", str(home), "assess", str(media["grace"])).code == 0


def test_photo_groups_clips_and_streams(models, media):
    with Assessor(models["student"]) as engine:
        group = engine.assess([media["grace"], media["astronaut"]], age="30m")
        assert group.kind == "images" and group.status == "ok" and group.frames_used == 2
        assert group.inputs == [str(media["grace"]), str(media["astronaut"])]
        with pytest.raises(UsageError):
            engine.assess([media["grace"]] * 4)
        clip = engine.assess(media["clip"], age="10y")
        assert clip.kind == "video" and clip.status == "ok", clip.reason
        assert 10 <= clip.frames_used <= 40  # 3 s analysed at 10 frames per second
        assert clip.scale is not None and clip.scale["name"] == "OPS"
        assert len(clip.to_dict(frames=True)["frames"]) == clip.frames_used

        import cv2

        cap = cv2.VideoCapture(str(media["clip"]))
        stream = engine.stream(age="4y")
        results = []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            out = stream.push(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if out is not None:
                results.append(out)
        cap.release()
        last = stream.flush()  # the frames after the last full second
        stream.close()
    assert len(results) == 2 and last is not None  # one result per second of a 3 s stream
    results.append(last)
    assert all(r.kind == "stream" and r.status == "ok" for r in results)
    # The Python API takes a list of inputs; an inner list is one photo group.
    res = assess([media["cat"], [media["grace"]]], model=models["student"])
    assert [r.status for r in res] == ["abstain", "ok"]


def test_onnx_and_torch_agree_and_a_damaged_export_is_not_used(models, media, tmp_path, cli):
    meta = json.loads((models["student"] / ONNX_META).read_text())
    assert meta["max_abs_diff"] <= 1e-4
    photos = [media["grace"], media["astronaut"]]
    on = assess(photos, model=models["student"], backend="onnx")
    pt = assess(photos, model=models["student"], backend="torch")
    assert [r.model["backend"] for r in on + pt] == ["onnx", "onnx", "torch", "torch"]
    for a, b in zip(on, pt, strict=False):
        assert abs(a.score - b.score) < 1e-3 and abs(a.pain_probability - b.pain_probability) < 1e-4
    copy = tmp_path / "m"
    shutil.copytree(models["student"], copy)
    data = bytearray((copy / ONNX_FILE).read_bytes())
    data[-10] ^= 0xFF
    (copy / ONNX_FILE).write_bytes(bytes(data))
    assert assess(media["grace"], model=copy)[0].model["backend"] == "torch"
    r = cli("assess", str(media["grace"]), "--model", str(copy), "--backend", "onnx")
    assert r.code == 4 and "pedpain export onnx" in r.err


def test_distilled_student_reports_agreement_with_its_teacher(models):
    meta = json.loads((models["student"] / "model.json").read_text())
    teacher = json.loads((models["teacher"] / "model.json").read_text())
    assert meta["stage"] == "distill" and meta["backbone"] == "mobilenet_v3_large"
    assert meta["teacher"]["sha256"] == teacher["sha256"]
    assert meta["target_max"] == teacher["target_max"] == 16.0
    agree = json.loads((models["student"] / "agreement.json").read_text())
    assert agree["n"] > 0 and agree["mae"] >= 0 and "pearson_r" in agree
    metrics = json.loads((models["student"] / "metrics.json").read_text())
    assert metrics["agreement_with_teacher"] == agree
    assert "Agreement with the teacher" in (models["student"] / "model_card.md").read_text()


def test_explanation_baseline_heatmap_and_temporal_head(models, media, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(models["teacher"], folder)
    heat = tmp_path / "heat"
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if threads != 2 else 3)
    try:
        caller = torch.get_num_threads()
        with Assessor(folder, backend="torch", threads=1) as engine:
            r = engine.assess(media["grace"], baseline=[media["grace"]], heatmap_dir=heat)
            # Scoring and Grad-CAM ran on one thread; the caller's setting is untouched.
            assert torch.get_num_threads() == caller
    finally:
        torch.set_num_threads(threads)
    assert r.status == "ok"
    ex = r.explanation
    assert ex["baseline_faces"] == 1
    assert all(abs(v) < 1e-6 for v in ex["change"].values())  # the same face: no change
    png = Path(ex["heatmap"])
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A temporal head in the folder aggregates the clip instead of the trimmed mean.
    from pedpain.models.bundle import sha256_file
    from pedpain.models.temporal import AttentionPool

    head = AttentionPool(32)
    torch.save(head.state_dict(), folder / "temporal.pt")
    doc = {
        "kind": "attention",
        "dim": 32,
        "hidden": 64,
        "sha256": sha256_file(folder / "temporal.pt"),
    }
    (folder / "temporal.json").write_text(json.dumps(doc))
    with Assessor(folder, backend="torch") as engine:
        clip = engine.assess(media["clip"])
    assert clip.status == "ok" and clip.explanation["aggregation"] == "temporal head"


def test_quality_gate_calibrated_on_phantom_refuses_degraded_faces(models, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(models["student"], folder)
    doc = calibrate_model_folder(folder, n_identities=3, seed=5)
    summary = doc["calibration"]["result"]["summary"]
    assert summary["clean_pass_rate"] >= 0.8
    assert summary["degraded_refusal_rate"] >= 0.6
    result = doc["calibration"]["result"]
    for condition in ("pacifier", "mask", "blur", "dark", "small"):
        assert result[condition]["passed"] <= 0.34, (condition, result[condition])
    assert (folder / QUALITY_FILE).is_file()
    with Assessor(folder) as engine:
        assert engine.thresholds.source == str(folder)


def test_identity_check_refuses_another_persons_face(models, media):
    with Assessor(models["student"]) as engine:
        same = engine.assess(media["grace"], baseline=[media["grace"]])
        other = engine.assess(media["astronaut"], baseline=[media["grace"]])
    assert same.status == "ok"
    assert other.status == "abstain" and other.reason_code == "wrong_face"
    assert np.isfinite(other.quality["identity_distance"])
