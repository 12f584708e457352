"""Face detectors behind one registry: ``create_detector("mediapipe" | "haar")``.

- ``mediapipe``: MediaPipe's full-range face detector (BlazeFace, run directly: see
  ``pedpain.vision.tflite``). The whole image is seen first, letterboxed to the model's
  192 px input; only when it finds nothing, overlapping tiles at 2x and 4x zoom
  are searched, so a 150 px face in a 1920x1080 photo is found without paying for tiles
  on ordinary photos.
- ``haar``: OpenCV's Haar cascade (frontal face) with its eye cascade for the eye
  centres: the fallback that needs nothing from MediaPipe. Slower and less accurate; its
  score is the fraction of agreeing windows, not comparable with MediaPipe's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from pedpain.vision.tflite import sigmoid

DETECT_SIDE = 640  # images are downscaled to this long side before detection
MIN_TILE = 256


@dataclass
class Detection:
    """A face box (x, y, w, h in image pixels), a score in 0-1, and eye centres
    (subject's right eye = image left) when the detector gives them."""

    x: float
    y: float
    w: float
    h: float
    score: float
    right_eye: np.ndarray | None = None
    left_eye: np.ndarray | None = None
    keypoints: np.ndarray | None = field(default=None, repr=False)

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h

    def shifted(self, dx: float, dy: float, scale: float) -> Detection:
        """This detection from a tile/downscaled image, in the full image's pixels."""

        def move(p: np.ndarray | None) -> np.ndarray | None:
            return None if p is None else np.asarray(p) / scale + (dx, dy)

        return Detection(
            self.x / scale + dx,
            self.y / scale + dy,
            self.w / scale,
            self.h / scale,
            self.score,
            move(self.right_eye),
            move(self.left_eye),
            move(self.keypoints),
        )


class FaceDetector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...

    def close(self) -> None: ...


_REGISTRY: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(
    name: str,
) -> Callable[[Callable[..., FaceDetector]], Callable[..., FaceDetector]]:
    def add(factory: Callable[..., FaceDetector]) -> Callable[..., FaceDetector]:
        _REGISTRY[name] = factory
        return factory

    return add


def available_detectors() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def create_detector(name: str, **options: float) -> FaceDetector:
    """A detector by name; ``options`` e.g. ``min_score=0.5``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown face detector {name!r} (choose from {', '.join(available_detectors())})"
        ) from None
    return factory(**options)


def iou(a: Detection, b: Detection) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(dets: list[Detection], threshold: float = 0.3) -> list[Detection]:
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: d.score, reverse=True):
        if all(iou(d, k) < threshold for k in kept):
            kept.append(d)
    return kept


def downscale(rgb: np.ndarray, side: int = DETECT_SIDE) -> tuple[np.ndarray, float]:
    """The image with its long side at most ``side`` and the scale factor applied."""
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def tile_grid(width: int, height: int, level: int) -> list[tuple[int, int, int, int]]:
    """Overlapping square-ish tiles (x, y, w, h) for zoom level >= 1: side 0.75 * long
    side / 2**(level-1), stride two thirds of it, so a face smaller than a third of a
    tile lies whole in at least one tile."""
    side = int(0.75 * max(width, height) / 2 ** (level - 1))
    tw, th = min(side, width), min(side, height)

    def starts(total: int, size: int) -> list[int]:
        if size >= total:
            return [0]
        stride = max(1, int(size * 2 / 3))
        out = list(range(0, total - size, stride))
        out.append(total - size)
        return out

    return [(x, y, tw, th) for y in starts(height, th) for x in starts(width, tw)]


@dataclass(frozen=True)
class BlazeFaceSpec:
    """One of MediaPipe's BlazeFace detectors: model file, square input side, and its
    SSD anchor grid (one feature map per stride, that many anchors in each cell; every
    anchor is a unit square centred on its cell, so boxes are decoded relative to it),
    and the score below which MediaPipe's graph drops a candidate before blending,
    whatever confidence the caller asks for."""

    model: str
    side: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]
    score_floor: float

    def anchors(self) -> np.ndarray:
        """(N, 2) anchor centres in 0-1, in the model's output order."""
        out = []
        for stride, per_cell in zip(self.strides, self.anchors_per_cell, strict=True):
            grid = self.side // stride
            ys, xs = np.mgrid[0:grid, 0:grid]
            centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 2)
            out.append(np.repeat(centres, per_cell, axis=0))
        return np.concatenate(out)


#: Full range (faces up to ~5 m, 192 px input, 48 x 48 anchors) and short range (faces
#: within ~2 m, 128 px input, 16 x 16 x 2 + 8 x 8 x 6 anchors), as MediaPipe configures
#: them.
FULL_RANGE = BlazeFaceSpec("face_detection_full_range", 192, (4,), (1,), 0.6)
SHORT_RANGE = BlazeFaceSpec("face_detection_short_range", 128, (8, 16), (2, 6), 0.5)
BLEND_IOU = 0.3  # overlapping candidates are blended into one detection above this


class BlazeFace:
    """A BlazeFace model run directly: letterboxed input in [-1, 1], boxes and six
    keypoints (eyes, nose tip, mouth, ear tragions) decoded on the anchors, scores
    through a sigmoid, overlapping candidates blended (score-weighted mean of their
    coordinates, the best score kept; BlazeFace's weighted non-maximum suppression)."""

    def __init__(self, spec: BlazeFaceSpec, min_score: float) -> None:
        from pedpain.vision.tflite import TFLiteModel

        self.spec = spec
        self.min_score = max(min_score, spec.score_floor)
        self._model = TFLiteModel(spec.model, spec.side)
        self._anchors = spec.anchors()

    def best_score(self, rgb: np.ndarray) -> float:
        """The highest face score anywhere in the image (0 below ``min_score``): the
        score of the best detection, without decoding any box."""
        scores, _, _ = self._infer(rgb)
        best = float(scores.max())
        return best if best >= self.min_score else 0.0

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        scores, raw, (px, py, k) = self._infer(rgb)
        side = self.spec.side
        keep = np.nonzero(scores >= self.min_score)[0]
        if keep.size == 0:
            return []
        anchors = self._anchors[keep]
        pts = raw[keep].astype(np.float64).reshape(-1, 8, 2) / side
        pts[:, 2:] += anchors[:, None, :]  # keypoints are offsets from the anchor
        centre = pts[:, 0] + anchors
        half = pts[:, 1] / 2
        # Rows of points in canvas pixels: box corners (2) then keypoints (6).
        points = np.concatenate([(centre - half)[:, None], (centre + half)[:, None], pts[:, 2:]], 1)
        points = (points * side - (px, py)) / k
        return [
            Detection(
                float(p[0, 0]),
                float(p[0, 1]),
                float(p[1, 0] - p[0, 0]),
                float(p[1, 1] - p[0, 1]),
                score,
                p[2].copy(),
                p[3].copy(),
                p[2:].copy(),
            )
            for score, p in _blend(scores[keep], points)
            if p[1, 0] - p[0, 0] > 1 and p[1, 1] - p[0, 1] > 1
        ]

    def _infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, float]]:
        """The model on the letterboxed image: (scores (N,), raw regressions (N, 16),
        (pad x, pad y, scale) of the canvas)."""
        side = self.spec.side
        h, w = rgb.shape[:2]
        k = side / max(h, w)
        nw, nh = max(1, round(w * k)), max(1, round(h * k))
        if (nw, nh) != (w, h):
            interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, (nw, nh), interpolation=interp)
        px, py = (side - nw) // 2, (side - nh) // 2
        buf = self._model.buffer[0]
        buf.fill(-1.0)  # black padding
        region = buf[py : py + nh, px : px + nw]
        np.multiply(rgb, 1.0 / 127.5, out=region, casting="unsafe")
        region -= 1.0
        outputs = self._model.run()
        n = len(self._anchors)
        scores = sigmoid(outputs[n].reshape(n))
        return scores, outputs[n * 16].reshape(n, 16), (px, py, k)

    def close(self) -> None:
        self._model.close()


def _blend(scores: np.ndarray, points: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Weighted non-maximum suppression on (N, 8, 2) point sets whose first two rows are
    box corners: each best remaining candidate absorbs those overlapping it."""
    order = np.argsort(-scores, kind="stable")
    scores, points = scores[order], points[order]
    boxes = points[:, :2].reshape(-1, 4)  # x0, y0, x1, y1
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    left = np.ones(len(scores), dtype=bool)
    out = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        ix0 = np.maximum(boxes[i, 0], boxes[:, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[:, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[:, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        union = areas[i] + areas - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        group = left & (overlap > BLEND_IOU)
        group[i] = True
        weights = scores[group]
        blended = (points[group] * weights[:, None, None]).sum(axis=0) / weights.sum()
        out.append((float(scores[i]), blended))
        left &= ~group
    return out


@register_detector("mediapipe")
class MediaPipeDetector:
    """MediaPipe's full-range face detector (BlazeFace), with tiling for small faces."""

    name = "mediapipe"

    def __init__(self, min_score: float = 0.5, max_levels: int = 2) -> None:
        self._fd = BlazeFace(FULL_RANGE, min_score)
        self.max_levels = max_levels

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        found = self._fd.detect(rgb)
        h, w = rgb.shape[:2]
        level = 1
        while not found and level <= self.max_levels:
            tiles = tile_grid(w, h, level)
            if max(tw for _, _, tw, _ in tiles) < MIN_TILE or len(tiles) == 1:
                break
            for x, y, tw, th in tiles:
                for d in self._fd.detect(rgb[y : y + th, x : x + tw]):
                    found.append(d.shifted(x, y, 1.0))
            found = non_max_suppression(found)
            level += 1
        return found

    def close(self) -> None:
        self._fd.close()


@register_detector("haar")
class HaarDetector:
    """OpenCV Haar cascades: frontal face, then eyes within the face's upper half."""

    name = "haar"

    def __init__(self, min_score: float = 0.0, min_neighbors: int = 5) -> None:
        root = cv2.data.haarcascades  # type: ignore[attr-defined]
        self._face = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
        self._eye = cv2.CascadeClassifier(root + "haarcascade_eye.xml")
        if self._face.empty() or self._eye.empty():
            raise RuntimeError("OpenCV's Haar cascade files are missing from cv2.data")
        self.min_score = min_score
        self.min_neighbors = min_neighbors

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        small, scale = downscale(rgb)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        boxes, neighbours = self._face.detectMultiScale2(
            grey, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(24, 24)
        )
        out = []
        for (x, y, w, h), n in zip(boxes, neighbours, strict=False):
            score = float(n) / (float(n) + self.min_neighbors)
            if score < self.min_score:
                continue
            right, left = self._eyes(grey, int(x), int(y), int(w), int(h))
            out.append(Detection(float(x), float(y), float(w), float(h), score, right, left))
        return [d.shifted(0.0, 0.0, scale) for d in out]

    def _eyes(
        self, grey: np.ndarray, x: int, y: int, w: int, h: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # Typical eye positions in a Haar face box, used when the eye cascade fails.
        right = np.array([x + 0.30 * w, y + 0.38 * h])
        left = np.array([x + 0.70 * w, y + 0.38 * h])
        upper = grey[y : y + h // 2 + h // 10, x : x + w]
        min_eye = max(8, w // 8)
        eyes = self._eye.detectMultiScale(upper, 1.1, 3, minSize=(min_eye, min_eye))
        centres = sorted(
            ((ex + ew / 2 + x, ey + eh / 2 + y) for ex, ey, ew, eh in eyes), key=lambda c: c[0]
        )
        lefts = [c for c in centres if c[0] < x + w / 2]
        rights = [c for c in centres if c[0] >= x + w / 2]
        if lefts and rights:
            right = np.array(lefts[-1])
            left = np.array(rights[0])
            if math.hypot(*(left - right)) < 0.2 * w:
                right = np.array([x + 0.30 * w, y + 0.38 * h])
                left = np.array([x + 0.70 * w, y + 0.38 * h])
        return right, left

    def close(self) -> None:
        pass
