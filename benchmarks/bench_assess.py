"""Benchmark of the assessment engine (issue 9 targets), all measured in one run:

1. a 10 s, 25 fps, 640x480 clip, file to result, with the bedside model (MobileNetV3-L,
   165 px, ONNX Runtime): under 2 s, i.e. at least 5x faster than real time (the clip's
   own 10 s is the baseline);
2. the same clip with a VGG-16+ResNet-50 model (165 px, ONNX Runtime): under 8 s. Clips
   are analysed with frame sampling: 10 frames per second of video for compact models,
   2.5 for VGG-16 / ResNet-50 class ones (every video frame is still decoded);
3. a single photo (grace_hopper) with the bedside model after warm-up: under 150 ms;
4. at least 25x the throughput of a py-feat-class pipeline, represented by the published
   py-feat CPU rate: 4.3 frames/s, py-feat with its default RetinaFace detector on one
   thread (anchors.md; the 2.5-6 frames/s class, LibreFace 2.7-3.9), on video frames
   covered per second. The ratio against 6 frames/s (the top of the range) is printed too.

Weights are random (speed does not depend on them). Inference uses one thread (the
engine's default). The machine is shared with other developers: the load average is
printed, and each time is given as wall-clock and as this process's CPU time. When the
one-minute load average exceeds the core count, wall time measures the other jobs as much
as ours, so targets are judged on CPU time (a single-threaded stand-in for wall time on
an idle machine) and this is printed. Exit code 1 when a target is missed.

    .venv/bin/python benchmarks/bench_assess.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from vision_media import grace, save, write_video

PYFEAT_FPS = 4.3  # py-feat, RetinaFace detector, one CPU thread (published, anchors.md)
PYFEAT_TOP_FPS = 6.0  # the top of the 2.5-6 frames/s class
CLIP_SECONDS = 10.0


def load() -> tuple[float, str]:
    one, five, fifteen = os.getloadavg()
    return one, f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def make_model(folder: Path, backbone: str) -> Path:
    from pedpain.assess.backend import ONNX_FILE, export_onnx
    from pedpain.models.bundle import load_model_folder, save_model_folder
    from pedpain.models.heads import PainHead, PainNet
    from pedpain.models.registry import InputSpec, create_backbone
    from pedpain.vision.config import PreprocessConfig

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
    export_onnx(load_model_folder(folder), folder / ONNX_FILE)
    return folder


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(best wall s, CPU s of that run, result) over ``repeats`` runs."""
    best = (float("inf"), 0.0, None)
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu, out)
    return best


def main() -> int:
    from pedpain.assess import Assessor

    work = Path(tempfile.mkdtemp(prefix="bench-assess-"))
    print(f"setting up in {work} ({load()[1]})", flush=True)
    clip = write_video(work / "clip.mp4", CLIP_SECONDS, 25, size=(640, 480))
    photo = save(work / "grace.jpg", grace())
    bedside = make_model(work / "bedside", "mobilenet_v3_large")
    heavy = make_model(work / "heavy", "vgg16_resnet50")

    rows: list[tuple[str, float, float, float]] = []  # name, wall, cpu, target
    with Assessor(bedside) as engine:
        assert engine.scorer.backend == "onnx"
        engine.assess(photo)
        engine.assess(clip)  # warm-up: detectors, mesh, ONNX session
        wall, cpu, res = timed(lambda: engine.assess(clip), 3)
        assert res.status == "ok", res.reason  # type: ignore[attr-defined]
        frames_used = res.frames_used  # type: ignore[attr-defined]
        rows.append(("clip 10 s, bedside model", wall, cpu, 2.0))
        photos = []
        for _ in range(10):
            c0, t0 = time.process_time(), time.perf_counter()
            r = engine.assess(photo)
            photos.append((time.perf_counter() - t0, time.process_time() - c0))
            assert r.status == "ok"
        p_wall = statistics.median(p[0] for p in photos)
        p_cpu = statistics.median(p[1] for p in photos)
        rows.append(("photo, bedside model (median of 10)", p_wall, p_cpu, 0.150))
    with Assessor(heavy) as engine:
        assert engine.scorer.backend == "onnx"
        engine.assess(photo)
        h_wall, h_cpu, h_res = timed(lambda: engine.assess(clip), 1)
        assert h_res.status == "ok"  # type: ignore[attr-defined]
        rows.append(("clip 10 s, VGG-16+ResNet-50 model", h_wall, h_cpu, 8.0))

    one, text = load()
    busy = one > (os.cpu_count() or 1)
    judge = "CPU time" if busy else "wall time"
    print(f"\n{text}: targets judged on {judge}")
    print(f"{'measure':42s} {'wall':>9s} {'cpu':>9s} {'target':>8s}  result")
    failed = 0
    for name, w, c, target in rows:
        value = c if busy else w
        ok = value < target
        failed += not ok
        print(f"{name:42s} {w:8.3f}s {c:8.3f}s {target:7.3f}s  {'ok' if ok else 'MISSED'}")
    bed_wall, bed_cpu = rows[0][1], rows[0][2]
    eff = bed_cpu if busy else bed_wall
    realtime = CLIP_SECONDS / eff
    fps = CLIP_SECONDS * 25 / eff
    print(
        f"\nreal-time ratio (bedside clip): {realtime:.1f}x (target >= 5x; wall "
        f"{CLIP_SECONDS / bed_wall:.1f}x, cpu {CLIP_SECONDS / bed_cpu:.1f}x)"
    )
    print(
        f"throughput: {fps:.0f} video frames/s ({frames_used} faces analysed, "
        f"{frames_used / eff:.0f} faces/s) vs py-feat {PYFEAT_FPS:g} frames/s: "
        f"{fps / PYFEAT_FPS:.0f}x (target >= 25x); vs {PYFEAT_TOP_FPS:g} frames/s: "
        f"{fps / PYFEAT_TOP_FPS:.0f}x; per analysed face {frames_used / eff / PYFEAT_FPS:.1f}x"
    )
    heavy_eff = rows[2][2] if busy else rows[2][1]
    print(f"heavy model real-time ratio: {CLIP_SECONDS / heavy_eff:.1f}x (analysis 2.5 frames/s)")
    failed += realtime < 5 or fps / PYFEAT_FPS < 25
    print("\nall targets met" if not failed else f"\n{failed} target(s) missed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
