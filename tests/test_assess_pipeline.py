"""The clip pipeline (reader thread, batched model threads) gives today's results: the
same faces, the same gate verdicts and the same scores (1e-4) as the sequential path and
as the model called on each aligned face alone; timings say where the time went; the
explanation is computed only when asked for."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pedpain.assess import Assessor
from pedpain.assess.backend import ONNX_FILE, export_onnx
from pedpain.models.bundle import load_model_folder
from pedpain.vision.timing import STAGES, StageTimes
from vision_media import astronaut, grace, save, write_video
from web_fixtures import make_model

TOL = 1e-4


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained resnet18 (64 px) with its verified ONNX export: the deployment path."""
    folder = make_model(tmp_path_factory.mktemp("pipeline-model") / "m")
    export_onnx(load_model_folder(folder), folder / ONNX_FILE)
    return folder


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pipeline-media")
    return {
        "clip": write_video(d / "clip.mp4", 3.0, 25),
        # 12 s with the face gone from 0.5 s to 1 s: the first fully usable 10 s window
        # ends at 11 s, where reading stops early (the reader thread is then ahead).
        "long": write_video(d / "long.mp4", 12.0, 25, face_at=lambda t: not 0.5 <= t < 1.0),
        "grace": save(d / "grace.jpg", grace()),
        "astronaut": save(d / "astronaut.jpg", astronaut()),
    }


def _raw(faces: list) -> list[tuple[float, float, np.ndarray]]:
    return [f.scores for f in faces if f.check.ok]


@pytest.mark.parametrize("clip", ["clip", "long"])
def test_pipelined_clip_matches_the_sequential_path_and_per_face_calls(model, media, clip):
    with Assessor(model) as engine:
        assert engine.scorer.backend == "onnx"
        before = threading.active_count()
        sequential = engine._clip_faces(media[clip], StageTimes())
        engine._score([f for f in sequential if f.check.ok])  # today's: one call at the end
        pipelined = engine._clip_faces_pipelined(media[clip], StageTimes())
        assert threading.active_count() == before  # reader and model threads are gone
        assert len(pipelined) == len(sequential) == 10 * (3 if clip == "clip" else 10)
        if clip == "long":
            assert pipelined[0].time_s == pytest.approx(1.0)  # the window after the gap
        for a, b in zip(sequential, pipelined, strict=True):
            assert a.time_s == b.time_s and a.check.reason == b.check.reason
            if a.face.image is not None:
                assert np.array_equal(a.face.image, b.face.image)
        ok = [f for f in pipelined if f.check.ok]
        assert len(ok) >= 20
        # Every usable face was scored on the model threads, in batches.
        assert all(f.scores is not None for f in ok)
        for (i1, p1, e1), (i2, p2, e2) in zip(_raw(sequential), _raw(pipelined), strict=True):
            assert abs(i1 - i2) <= TOL and abs(p1 - p2) <= TOL
            assert np.abs(e1 - e2).max() <= TOL
        # The model on each aligned face alone (batch of one).
        for f in ok[:: max(1, len(ok) // 12)]:
            i, p, e = engine.scorer(f.face.image[None])
            assert abs(float(i[0]) - f.scores[0]) <= TOL
            assert abs(float(p[0]) - f.scores[1]) <= TOL
            assert np.abs(e[0] - f.scores[2]).max() <= TOL
        # End to end: the same result from both paths.
        fast = engine.assess(media[clip])
        engine.pipelined = False
        slow = engine.assess(media[clip])
    assert fast.status == slow.status == "ok"
    assert abs(fast.score - slow.score) <= TOL
    assert abs(fast.pain_probability - slow.pain_probability) <= TOL
    assert [f["time_s"] for f in fast.frame_scores] == [f["time_s"] for f in slow.frame_scores]
    for a, b in zip(fast.frame_scores, slow.frame_scores, strict=True):
        assert abs(a["pain_probability"] - b["pain_probability"]) <= TOL
    assert fast.quality == slow.quality


def test_photos_score_as_the_model_on_their_faces(model, media):
    with Assessor(model) as engine:
        for name in ("grace", "astronaut"):
            r = engine.assess(media[name])
            assert r.status == "ok", r.reason
            face = engine._photo_face(media[name], name)
            i, p, _ = engine.scorer(face.face.image[None])
            assert abs(r.score - float(i[0]) * 10 / engine.target_max) <= TOL
            assert abs(r.pain_probability - float(p[0])) <= TOL


def test_timings_say_where_the_time_went(model, media):
    with Assessor(model) as engine:
        clip = engine.assess(media["clip"]).to_dict()
        photo = engine.assess(media["grace"]).to_dict()
    for doc in (clip, photo):
        t = doc["timings_ms"]
        assert list(t)[: len(STAGES)] == list(STAGES)
        assert all(v >= 0 for v in t.values())
        for stage in ("decode", "detect", "landmarks", "align", "quality", "model"):
            assert t[stage] > 0, (stage, t)
        assert t["explain"] == 0  # not asked for
    # Decoding and scoring overlap on threads; the face stage runs on the caller's
    # thread, one stage after the other, inside the assessment's own time.
    t = clip["timings_ms"]
    assert t["detect"] + t["landmarks"] + t["align"] + t["quality"] <= clip["latency_ms"]


def test_explanation_only_on_request(model, media, tmp_path):
    with Assessor(model) as engine:
        plain = engine.assess(media["grace"])
        asked = engine.assess(media["grace"], explain=True)
        heat = engine.assess(media["clip"], heatmap_dir=tmp_path / "heat")
    assert plain.explanation["measures"] is None and "--explain" in plain.explanation["note"]
    assert "heatmap" not in plain.explanation
    assert set(asked.explanation["measures"]) == {
        "brow_eye", "eye_aperture", "nose_lip", "mouth_open"
    }  # fmt: skip
    assert asked.score == plain.score and asked.timings_ms["explain"] > 0
    assert heat.explanation["measures"] is not None  # a heat map implies the measures
    assert Path(heat.explanation["heatmap"]).read_bytes()[:4] == b"\x89PNG"


def test_cli_explain_flag(model, media, cli):
    import json

    r = cli("assess", str(media["grace"]), "--model", str(model), "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)[0]
    assert doc["explanation"]["measures"] is None and doc["timings_ms"]["model"] > 0
    r = cli("assess", str(media["grace"]), "--model", str(model), "--explain", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)[0]["explanation"]["measures"]["nose_lip"] > 0
