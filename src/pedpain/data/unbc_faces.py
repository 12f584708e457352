"""Aligned, packed faces from a UNBC-McMaster tree, cached for training.

Faces are aligned exactly like the children's (pedpain.vision: eye line horizontal, fixed
inter-ocular distance and crop, the same photometric steps), so the source model sees the
same framing as the transfer stage. The archive's own 66 AAM landmarks give the eyes
(points 36-41: subject's right eye, 42-47: left eye); frames without landmarks go through
face detection and the face mesh instead. Black frames are dropped.

Cache layout (``cache/``): ``faces.npy`` (N, S, S, 3) uint8, opened memory-mapped;
``rows.csv`` one row per face; ``meta.json`` the parameters, written last.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_text
from pedpain.core.logging import get_logger
from pedpain.core.progress import track
from pedpain.data.unbc import BLACK_MEAN, UnbcArchive, UnbcFrame
from pedpain.vision.align import alignment_matrix, warp_face
from pedpain.vision.config import PreprocessConfig
from pedpain.vision.photometric import normalise_face

log = get_logger(__name__)
CACHE_VERSION = 1
RIGHT_EYE_AAM = slice(36, 42)
LEFT_EYE_AAM = slice(42, 48)


def aam_eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return landmarks[RIGHT_EYE_AAM].mean(axis=0), landmarks[LEFT_EYE_AAM].mean(axis=0)


def _cache_key(archive: UnbcArchive, cfg: PreprocessConfig, max_frames: int) -> str:
    doc = {
        "root": str(archive.root.resolve()),
        "cfg": asdict(cfg),
        "max": max_frames,
        "v": CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _subsample(frames: list[UnbcFrame], max_per_sequence: int) -> list[UnbcFrame]:
    if max_per_sequence <= 0:
        return frames
    by_seq: dict[tuple[str, str], list[UnbcFrame]] = {}
    for f in frames:
        by_seq.setdefault((f.subject, f.sequence), []).append(f)
    kept: list[UnbcFrame] = []
    for seq_frames in by_seq.values():
        if len(seq_frames) <= max_per_sequence:
            kept += seq_frames
        else:
            idx = np.linspace(0, len(seq_frames) - 1, max_per_sequence).round().astype(int)
            kept += [seq_frames[i] for i in sorted(set(idx.tolist()))]
    return kept


_DETECTOR: list[Any] = []


def _detect_eyes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Eyes of the largest detected face, for copies of the archive without landmarks."""
    from pedpain.vision.detect import create_detector

    if not _DETECTOR:
        _DETECTOR.append(create_detector("mediapipe"))
    faces = [d for d in _DETECTOR[0].detect(rgb) if d.right_eye is not None]
    if not faces:
        return None
    best = max(faces, key=lambda d: d.area)
    assert best.right_eye is not None and best.left_eye is not None
    return best.right_eye, best.left_eye


def _align(frame: UnbcFrame, cfg: PreprocessConfig) -> tuple[np.ndarray | None, str]:
    bgr = cv2.imread(str(frame.image), cv2.IMREAD_COLOR)
    if bgr is None:
        return None, "unreadable"
    if frame.known_black or float(bgr.mean()) < BLACK_MEAN:
        return None, "black"
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    try:
        landmarks = frame.landmarks()
    except ValueError:
        landmarks = None
    eyes = aam_eye_centres(landmarks) if landmarks is not None else _detect_eyes(rgb)
    if eyes is None:
        return None, "no_face"
    matrix = alignment_matrix(eyes[0], eyes[1], cfg.size, cfg.iod_fraction, cfg.eye_y)
    face = warp_face(rgb, matrix, cfg.size)
    face = normalise_face(face, cfg.denoise, cfg.white_balance, cfg.clahe)
    return face, "ok"


def build_unbc_faces(
    root: str | Path, cache: str | Path, size: int = 256, max_frames_per_sequence: int = 0
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """Return (faces memmap, rows, meta), building the cache when missing or stale.

    rows: ``face, subject, clip, frame, target (PSPI), vas, opr, aff, sen``.
    """
    archive = UnbcArchive(root)
    cfg = PreprocessConfig(size=size)
    cache = Path(cache)
    key = _cache_key(archive, cfg, max_frames_per_sequence)
    meta_file = cache / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("key") == key:
            faces = np.load(cache / "faces.npy", mmap_mode="r")
            return faces, pd.read_csv(cache / "rows.csv", dtype={"subject": str}), meta
    if cache.exists():
        shutil.rmtree(cache)  # stale or half-built
    cache.mkdir(parents=True)

    frames = _subsample(list(archive.frames()), max_frames_per_sequence)
    if not frames:
        raise UsageError(f"no UNBC-McMaster frames under {archive.root}")
    faces = np.lib.format.open_memmap(
        cache / "faces.partial.npy", mode="w+", dtype=np.uint8, shape=(len(frames), size, size, 3)
    )
    rows: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    labels_cache: dict[tuple[str, str], dict[str, float]] = {}
    for frame in track(frames, "aligning UNBC faces"):
        face, status = _align(frame, cfg)
        pspi = frame.pspi()
        if face is None or pspi is None:
            reason = status if face is None else "no_pspi"
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        faces[len(rows)] = face
        seq_key = (frame.subject, frame.sequence)
        if seq_key not in labels_cache:
            labels_cache[seq_key] = archive.sequence_labels(*seq_key)
        seq_labels = labels_cache[seq_key]
        rows.append(
            {
                "face": len(rows),
                "subject": frame.subject,
                "clip": frame.sequence,
                "frame": frame.number,
                "target": float(pspi),
                **{k.lower(): seq_labels.get(k) for k in ("VAS", "OPR", "AFF", "SEN")},
            }
        )
    faces.flush()
    kept = len(rows)
    del faces
    _truncate_npy(cache / "faces.partial.npy", cache / "faces.npy", kept, size)
    table = pd.DataFrame(rows)
    table.to_csv(cache / "rows.csv", index=False)
    meta = {
        "key": key,
        "root": str(archive.root),
        "faces": kept,
        "dropped": dropped,
        "preprocessing": {
            **asdict(cfg),
            "alignment": "UNBC AAM landmarks (eyes 36-41, 42-47); detection where missing",
        },
        "version": CACHE_VERSION,
    }
    atomic_write_text(meta_file, json.dumps(meta, indent=2))
    log.info("UNBC faces cached", extra={"faces": kept, "dropped": sum(dropped.values())})
    return np.load(cache / "faces.npy", mmap_mode="r"), table, meta


def _truncate_npy(src: Path, dst: Path, n: int, size: int) -> None:
    """Copy the first n faces of the partial file into the final one, then drop it."""
    full = np.load(src, mmap_mode="r")
    out = np.lib.format.open_memmap(dst, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    step = 1024
    for start in range(0, n, step):
        end = min(start + step, n)
        out[start:end] = full[start:end]
    out.flush()
    del out, full
    src.unlink()
