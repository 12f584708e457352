"""Benchmark the phantom cohort generator against encoding the same files.

Baseline, measured in the same run: encoding the same number of JPEGs of the same size
(and, with videos, writing the same number of mp4 frames) from a fixed image, i.e. the
cost of the files alone. The ratio says what rendering the faces adds on top.

Targets (issue 3): a 40-subject cohort without videos in under a minute (small photos)
and with videos in a few minutes. Exits non-zero when the photo-only ratio exceeds
--max-ratio.

Issue 20 (confounders, gated pain actions, detailed skin cues) must not make generation
slower: the same cohort is also generated with ``confounders=False`` (the earlier
phantom's path, kept selectable) in the same run, and the ratio new/old is printed;
above --max-slowdown (default 1.15, room for timing noise on a shared CPU) exits 1.

    .venv/bin/python benchmarks/bench_phantom.py                 # 40 subjects, quick set
    .venv/bin/python benchmarks/bench_phantom.py --videos --large
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from pedpain.data.phantom.identities import source_faces
from pedpain.data.phantom.media import VideoFile, jpeg_bytes
from pedpain.data.phantom.oapc import PHOTO_SIZES, CohortParams, generate_cohort


def baseline(n_photos: int, size: tuple[int, int], n_frames: int, work: Path) -> float:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (size[1], size[0], 3), np.uint8), (0, 0), 3)
    start = time.perf_counter()
    for i in range(n_photos):
        (work / f"b{i}.jpg").write_bytes(jpeg_bytes(image, 85))
    if n_frames:
        frame = cv2.resize(image, (640, 480))
        video = VideoFile(work / "b.mp4", 25, (640, 480))
        for _ in range(n_frames):
            video.write(frame)
        video.close()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--videos", action="store_true", help="also render 10 s clips")
    parser.add_argument("--large", action="store_true", help="21 MP photos instead of small")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--max-ratio",
        type=float,
        default=None,
        help="fail above this ratio (default 50 for small photos, where encoding is cheap "
        "and rendering dominates; 5 for 21 MP photos, where encoding dominates)",
    )
    parser.add_argument(
        "--max-slowdown",
        type=float,
        default=1.15,
        help="fail when generating with confounders takes more than this times the "
        "earlier phantom's path (confounders off), measured in the same run",
    )
    parser.add_argument(
        "--skip-old", action="store_true", help="do not time the confounders-off path"
    )
    args = parser.parse_args()

    source_faces()  # MediaPipe start-up is paid once, not per cohort
    size_name = "large" if args.large else "small"
    params = CohortParams(subjects=args.subjects, seed=1, videos=args.videos, photo_size=size_name)
    work = Path(tempfile.mkdtemp(prefix="bench-phantom-"))
    try:
        old_seconds = None
        if not args.skip_old:
            old_params = CohortParams(**{**params.__dict__, "confounders": False})
            start = time.perf_counter()
            generate_cohort(work / "old", old_params, workers=args.workers)
            old_seconds = time.perf_counter() - start
        start = time.perf_counter()
        generate_cohort(work / "cohort", params, workers=args.workers)
        seconds = time.perf_counter() - start
        with (work / "cohort" / "media.csv").open() as handle:
            media = list(csv.DictReader(handle))
        photos = sum(r["kind"] == "photo" for r in media)
        frames = sum(int(r["frames"] or 0) for r in media if r["kind"] == "video")
        (work / "base").mkdir()
        base = baseline(photos, PHOTO_SIZES[size_name], frames, work / "base")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = seconds / base
    if args.max_ratio is None:
        args.max_ratio = 5.0 if args.large else 50.0
    print(f"phantom oapc: {args.subjects} subjects, {photos} {size_name} photos, {frames} frames")
    print(f"  generate: {seconds:.1f} s ({seconds / args.subjects:.2f} s per subject)")
    print(f"  baseline (encode the same files only): {base:.1f} s")
    print(f"  ratio generate/baseline: {ratio:.2f} (target <= {args.max_ratio:g})")
    if not args.videos and not args.large:
        verdict = "met" if seconds < 60 else "MISSED"
        print(f"  target: {args.subjects} subjects without videos in under 60 s: {verdict}")
    slow_ok = True
    if old_seconds is not None:
        slowdown = seconds / old_seconds
        slow_ok = slowdown <= args.max_slowdown
        print(f"  earlier phantom (confounders off, same run): {old_seconds:.1f} s")
        print(
            f"  ratio with/without confounders: {slowdown:.2f} "
            f"(target <= {args.max_slowdown:g}: {'met' if slow_ok else 'MISSED'})"
        )
    return 0 if ratio <= args.max_ratio and slow_ok else 1


if __name__ == "__main__":
    sys.exit(main())
