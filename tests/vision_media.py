"""Test media made from real face photos (matplotlib's grace_hopper, skimage's
astronaut): photos, rotated and composed images, and videos written with
cv2.VideoWriter. Nothing here depends on the phantom cohort generator."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def grace() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def cat() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.chelsea())


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (counter-clockwise on screen for positive degrees),
    enlarging the canvas so nothing is cut."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(rgb, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE)


def save(path: Path, rgb: np.ndarray, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(
        path.suffix or ".png",
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, quality],
    )
    assert ok
    path.write_bytes(data.tobytes())
    return path


def place(
    canvas_hw: tuple[int, int], face: np.ndarray, x: int, y: int, background: int = 90
) -> np.ndarray:
    canvas = np.full((*canvas_hw, 3), background, np.uint8)
    h, w = face.shape[:2]
    canvas[y : y + h, x : x + w] = face
    return canvas


def write_video(
    path: Path,
    seconds: float,
    fps: float,
    size: tuple[int, int] = (640, 480),
    face_at: Callable[[float], bool] = lambda t: True,
    fourcc: str = "mp4v",
    background: int = 70,
) -> Path:
    """A clip of grace_hopper moving and slowly rotating; ``face_at(t)`` False gives a
    frame with no face (the background only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    face = cv2.resize(grace(), (int(h * 0.6 * 512 / 600), int(h * 0.6)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    n = round(seconds * fps)
    bg = np.full((h, w, 3), background, np.uint8)
    bg[:, :, 0] = 90
    for i in range(n):
        t = i / fps
        frame = bg.copy()
        if face_at(t):
            angle = 10 * math.sin(t)
            fh, fw = face.shape[:2]
            m = cv2.getRotationMatrix2D((fw / 2, fh / 2), angle, 1.0)
            rotated = cv2.warpAffine(face, m, (fw, fh), borderMode=cv2.BORDER_REPLICATE)
            x = int((w - fw) / 2 + 40 * math.sin(t * 0.7))
            y = int((h - fh) / 2 + 20 * math.cos(t * 0.5))
            frame[y : y + fh, x : x + fw] = rotated
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
