"""Benchmark of the assessment engine (issue 21 targets), everything measured in one run:

1. a 10 s, 25 fps, 640x480 clip, file to result, with the bedside model (MobileNetV3-L,
   165 px, ONNX Runtime, analysed at 10 frames per second of video):
   - within 1.5x of its floor: the sum, measured in this run, of decoding the clip
     alone (every frame grabbed, the analysed ones converted), the face-landmark model
     alone on the analysed faces (one call each) and the bedside model alone on the same
     aligned faces (in the engine's batches);
   - at least 20x faster than real time (under 0.5 s);
2. a single photo (grace_hopper) with the bedside model after warm-up: under 30 ms;
3. the same clip with a VGG-16+ResNet-50 model (165 px, ONNX Runtime, analysed at 2.5
   frames per second): under 3 s;
4. the ratio against py-feat's published CPU rate (4.3 frames/s, RetinaFace detector, one
   thread; anchors.md), stated per analysed face (py-feat analyses every frame it is
   given) and, separately, per video frame covered (our sampling skips frames).

The engine's own account of its time (``timings_ms``: decode, detect, landmarks, align,
quality, model, pooling) is printed beside the floor's parts. Clip stages overlap on
threads (reader, face stage, two model threads), so they may sum past the wall time.

Weights are random (speed does not depend on them). The machine may be shared: the load
average is printed before and after, wall times are the best of a few runs, and the
ratio against the floor (measured under the same load) is the robust figure. Exit code 1
when a target is missed.

    .venv/bin/python benchmarks/bench_assess.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from vision_media import grace, save, write_video

PYFEAT_FPS = 4.3  # py-feat, RetinaFace detector, one CPU thread (published, anchors.md)
CLIP_SECONDS = 10.0
FLOOR_RATIO = 1.5
REALTIME = 20.0
PHOTO_S = 0.030
HEAVY_S = 3.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def make_model(folder: Path, backbone: str) -> Path:
    import torch

    from pedpain.assess.backend import ONNX_FILE, export_onnx
    from pedpain.core.errors import EnvironmentProblem
    from pedpain.models.bundle import load_model_folder, save_model_folder
    from pedpain.models.heads import PainHead, PainNet
    from pedpain.models.registry import InputSpec, create_backbone
    from pedpain.vision.config import PreprocessConfig

    torch.manual_seed(0)  # the same random weights every run
    spec = InputSpec(size=165)
    body = create_backbone(backbone, spec=spec)
    net = PainNet(body, PainHead(body.feature_dim, [256], 0.3)).eval()
    meta = {
        "name": f"bench-{backbone}",
        "version": "0",
        "stage": "source",
        "backbone": backbone,
        "input_spec": spec.to_dict(),
        "head_hidden": [256],
        "dropout": 0.3,
        "target": "pain",
        "target_max": 10.0,
        "pain_threshold": 3.0,
    }
    preprocessing = {"preprocess": PreprocessConfig().to_dict()}
    save_model_folder(folder, net, meta, "", preprocessing, {}, "benchmark model {sha256}")
    loaded = load_model_folder(folder)
    for seed in range(3):
        try:
            export_onnx(loaded, folder / ONNX_FILE, seed=seed)
            break
        except EnvironmentProblem:
            # Random weights in a deep network can put one random test face's output
            # just past the 1e-4 check; other test faces say whether it is real.
            if seed == 2:
                raise
    return folder


CPU: dict[str, float] = {}  # process CPU seconds of the best run, by label


def best(fn: Callable[[], Any], repeats: int, label: str = "") -> tuple[float, Any]:
    """(best wall seconds, that run's result) over ``repeats`` runs; that run's process
    CPU time (all threads) goes to ``CPU[label]``."""
    out: tuple[float, Any] = (float("inf"), None)
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < out[0]:
            out = (wall, result)
            CPU[label] = cpu
    return out


def floor_parts(engine: Any, clip: Path) -> dict[str, float]:
    """Each part of the clip's necessary work alone, best of 3: decoding, the landmark
    model on the analysed faces, the bedside model on the same aligned faces."""
    from pedpain.assess.engine import MODEL_BATCH
    from pedpain.vision.landmarks import FaceMesh, roi_from_landmarks
    from pedpain.vision.reading import VideoReader
    from pedpain.vision.timing import StageTimes

    faces = engine._clip_faces(clip, StageTimes())  # the analysed faces, sequential path
    by_time = {round(f.time_s, 6): f for f in faces if f.face.landmarks is not None}
    scored = [f.face.image for f in faces if f.check.ok]

    def decode() -> list[tuple[np.ndarray, Any]]:
        kept = []
        with VideoReader(clip) as reader:
            for index, rgb in reader.frames(engine._wanted(reader)):
                face = by_time.get(round(index / reader.info.fps, 6))
                if rgb is not None and face is not None:
                    kept.append((rgb, roi_from_landmarks(face.face.landmarks)))
        return kept

    decode_s, frames = best(decode, 3)
    mesh = FaceMesh()
    try:
        mesh.run(*frames[0])
        landmarks_s, _ = best(lambda: [mesh.run(rgb, roi) for rgb, roi in frames], 3)
    finally:
        mesh.close()
    stack = np.stack(scored)
    engine.scorer(stack[:MODEL_BATCH])

    def model() -> None:
        for start in range(0, len(stack), MODEL_BATCH):
            engine.scorer(stack[start : start + MODEL_BATCH])

    model_s, _ = best(model, 3)
    return {
        "decode": decode_s,
        "landmarks": landmarks_s,
        "model": model_s,
        "faces": float(len(scored)),
        "landmark_calls": float(len(frames)),
    }


def main() -> int:
    from pedpain.assess import Assessor

    work = Path(tempfile.mkdtemp(prefix="bench-assess-"))
    print(f"setting up in {work} ({load()})", flush=True)
    clip = write_video(work / "clip.mp4", CLIP_SECONDS, 25, size=(640, 480))
    photo = save(work / "grace.jpg", grace())
    bedside = make_model(work / "bedside", "mobilenet_v3_large")
    heavy = make_model(work / "heavy", "vgg16_resnet50")
    start_load = load()

    with Assessor(bedside) as engine:
        assert engine.scorer.backend == "onnx"
        engine.assess(photo)
        engine.assess(clip)  # warm-up: detectors, mesh, ONNX session
        clip_s, res = best(lambda: engine.assess(clip), 5, "clip")
        assert res.status == "ok", res.reason
        parts = floor_parts(engine, clip)
        photos = []
        for _ in range(20):
            t0 = time.perf_counter()
            r = engine.assess(photo)
            photos.append(time.perf_counter() - t0)
            assert r.status == "ok"
        photo_s = statistics.median(photos)
        photo_timings = r.timings_ms
    with Assessor(heavy) as engine:
        assert engine.scorer.backend == "onnx"
        engine.assess(photo)
        heavy_s, h_res = best(lambda: engine.assess(clip), 2, "heavy")
        assert h_res.status == "ok"

    floor = parts["decode"] + parts["landmarks"] + parts["model"]
    faces = res.frames_used
    t = res.timings_ms
    print(f"\nstart: {start_load}\nend:   {load()}")
    print(f"\n10 s clip, bedside model: {faces} faces analysed and scored")
    print(f"{'stage':12s} {'engine ms':>10s} {'floor ms (alone)':>17s}")
    floor_ms = {
        "decode": parts["decode"] * 1000,
        "landmarks": parts["landmarks"] * 1000,
        "model": parts["model"] * 1000,
    }
    for stage, value in t.items():
        alone = f"{floor_ms[stage]:17.1f}" if stage in floor_ms else f"{'':17s}"
        print(f"{stage:12s} {value:10.1f} {alone}")
    print(
        f"{'wall':12s} {clip_s * 1000:10.1f} {floor * 1000:17.1f}  (floor = decode + "
        f"{int(parts['landmark_calls'])} landmark calls + model on {int(parts['faces'])} faces)"
    )
    print(
        f"{'cpu':12s} {CPU['clip'] * 1000:10.1f}  (all threads; on an idle machine the wall "
        f"time cannot go below cpu / {os.cpu_count()})"
    )

    ratio = clip_s / floor
    realtime = CLIP_SECONDS / clip_s
    checks = [
        ("clip / floor (bedside)", ratio, FLOOR_RATIO, ratio <= FLOOR_RATIO, "x"),
        ("real-time ratio (bedside clip)", realtime, REALTIME, realtime >= REALTIME, "x"),
        ("photo, median of 20 (s)", photo_s, PHOTO_S, photo_s < PHOTO_S, "s"),
        ("clip, VGG-16+ResNet-50 (s)", heavy_s, HEAVY_S, heavy_s < HEAVY_S, "s"),
    ]
    print(f"\n{'target':34s} {'measured':>10s} {'target':>8s}  result")
    failed = 0
    for name, value, target, ok, unit in checks:
        failed += not ok
        sign = "<=" if unit == "x" and "floor" in name else (">=" if unit == "x" else "<")
        print(f"{name:34s} {value:10.3f} {sign}{target:6g}  {'ok' if ok else 'MISSED'}")
    print(f"photo stages (ms): {photo_timings}")
    per_face = faces / clip_s
    print(
        f"\npy-feat ({PYFEAT_FPS:g} frames/s, RetinaFace, one CPU thread, published): "
        f"per analysed face {per_face:.0f} faces/s = {per_face / PYFEAT_FPS:.1f}x; per video "
        f"frame covered {CLIP_SECONDS * 25 / clip_s:.0f} frames/s = "
        f"{CLIP_SECONDS * 25 / clip_s / PYFEAT_FPS:.0f}x (sampling analyses 10 of 25 frames/s)"
    )
    print(
        f"VGG-16+ResNet-50: {h_res.frames_used} faces at 2.5 frames/s, "
        f"{CLIP_SECONDS / heavy_s:.1f}x real time, cpu {CPU['heavy']:.2f} s; stages (ms) "
        f"{h_res.timings_ms}"
    )
    print("\nall targets met" if not failed else f"\n{failed} target(s) missed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
