"""Face-mesh landmarks (468 points) from MediaPipe's face-landmark model.

The model (``face_landmark.tflite``, the one behind MediaPipe's legacy Face Mesh) runs
directly (``pedpain.vision.tflite``); what MediaPipe's graph did around it is done here:
- Region of interest: a square around the face, rotated so the eye line is horizontal,
  ``ROI_SCALE`` x the face's size: from a detection (its box and eye keypoints) or, in
  videos, from the previous frame's landmarks (tracking: no detection while the face
  stays in view). The square is warped to the model's 192 x 192 input (area prefilter
  when it shrinks a large face), values scaled to 0-1.
- Outputs: 468 (x, y, z) points in input pixels, mapped back through the region's
  transform (z scaled like x), and a face-presence logit; below ``MIN_PRESENCE``
  (after the sigmoid) there is no face in the region (a lost track).
A fresh region from a detection is refined once from its own landmarks (the detector's
box is looser than the landmark box the model is used to), as MediaPipe's tracking
would on the next frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pedpain.vision.align import (
    eye_centres,
    eye_line_angle,
    similarity_matrix,
    transform_points,
    warp_face,
)
from pedpain.vision.tflite import sigmoid

MODEL_SIDE = 192  # the model's input size
ROI_SCALE = 1.5  # region side / face size (as MediaPipe's face-mesh graph uses)
MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class Roi:
    """A square region: centre (x, y) in image pixels, side in pixels, and ``angle``
    (radians) of the face's eye line in the image; the region is rotated by it."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def matrix(self) -> np.ndarray:
        """2x3 matrix mapping image pixels to the model's input pixels."""
        half = MODEL_SIDE / 2.0
        k = MODEL_SIDE / max(self.side, 1.0)
        return similarity_matrix((self.cx, self.cy), self.angle, k, (half, half))


def roi_from_box(
    box: tuple[float, float, float, float],
    right_eye: np.ndarray | None = None,
    left_eye: np.ndarray | None = None,
) -> Roi:
    """The region around a detection box (x, y, w, h), turned by its eye line if known."""
    x, y, w, h = box
    angle = 0.0
    if right_eye is not None and left_eye is not None:
        angle = eye_line_angle(right_eye, left_eye)
    return Roi(x + w / 2, y + h / 2, ROI_SCALE * max(w, h), angle)


def roi_from_landmarks(landmarks: np.ndarray) -> Roi:
    """The region around landmarks: their bounding box measured along the eye line."""
    pts = landmarks[:, :2]
    angle = eye_line_angle(*eye_centres(landmarks))
    c, s = math.cos(angle), math.sin(angle)
    # Coordinates along (u) and across (v) the eye line.
    u = pts[:, 0] * c + pts[:, 1] * s
    v = -pts[:, 0] * s + pts[:, 1] * c
    u0, u1, v0, v1 = u.min(), u.max(), v.min(), v.max()
    uc, vc = (u0 + u1) / 2, (v0 + v1) / 2
    cx, cy = uc * c - vc * s, uc * s + vc * c
    return Roi(float(cx), float(cy), ROI_SCALE * float(max(u1 - u0, v1 - v0)), angle)


class FaceMesh:
    """The face-landmark model (one per worker process)."""

    def __init__(self, threads: int = 1) -> None:
        from pedpain.vision.tflite import TFLiteModel

        self._model = TFLiteModel("face_landmark", MODEL_SIDE, threads)

    def run(self, rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """(468, 3) landmarks in image pixels (z in the same scale, smaller = nearer) and
        the face-presence probability for the face in ``roi``."""
        matrix = roi.matrix()
        crop = warp_face(rgb, matrix, MODEL_SIDE)
        np.multiply(crop, 1.0 / 255.0, out=self._model.buffer[0], casting="unsafe")
        outputs = self._model.run()
        points = outputs[468 * 3].reshape(468, 3).astype(np.float64)
        presence = float(sigmoid(outputs[1].reshape(-1))[0])
        # Back to image pixels through the inverse of the region's transform.
        points[:, :2] = transform_points(cv2.invertAffineTransform(matrix), points)
        points[:, 2] *= max(roi.side, 1.0) / MODEL_SIDE
        return points, presence

    def landmarks(self, rgb: np.ndarray, roi: Roi, refine: bool = False) -> np.ndarray | None:
        """Landmarks of the face in ``roi`` (None when the model sees no face there);
        ``refine`` runs the model a second time on the region of its first landmarks."""
        points, presence = self.run(rgb, roi)
        if presence < MIN_PRESENCE:
            return None
        if refine:
            again, presence = self.run(rgb, roi_from_landmarks(points))
            if presence >= MIN_PRESENCE:
                points = again
        return points

    def close(self) -> None:
        self._model.close()


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, w, h) bounding box of the landmarks."""
    x0, y0 = landmarks[:, :2].min(axis=0)
    x1, y1 = landmarks[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
