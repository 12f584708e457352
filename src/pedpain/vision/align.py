"""Geometric normalisation: one similarity transform per face that puts the eye line
horizontal, fixes the inter-ocular distance and crops a fixed box around the face.

Conventions: points are (x, y) in image pixels, y pointing down. ``right_eye`` is the
subject's right eye, which appears on the image's left in a frontal photo. ``roll`` is
the angle of the eye line (right eye -> left eye) in degrees, positive when the line
goes down to the image's right (head tilted clockwise as seen on screen).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Face-mesh indices of the eye corners (subject's right eye: 33 outer, 133 inner; left eye:
# 362 inner, 263 outer). Eye centres are the corner midpoints: stable under blinking.
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right_eye, left_eye) centres from face-mesh landmarks (N >= 468, columns x, y...)."""
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    right = pts[list(RIGHT_EYE_CORNERS)].mean(axis=0)
    left = pts[list(LEFT_EYE_CORNERS)].mean(axis=0)
    return right, left


def eye_line_angle(right_eye: np.ndarray, left_eye: np.ndarray) -> float:
    """Angle (radians) of the eye line, right eye -> left eye; 0 when they coincide."""
    dx, dy = np.asarray(left_eye, float) - np.asarray(right_eye, float)
    return math.atan2(dy, dx)


def roll_degrees(right_eye: np.ndarray, left_eye: np.ndarray) -> float:
    return math.degrees(eye_line_angle(right_eye, left_eye))


def similarity_matrix(
    centre: tuple[float, float], angle: float, scale: float, target: tuple[float, float]
) -> np.ndarray:
    """2x3 matrix p' = scale * R(-angle) (p - centre) + target: turns a line at ``angle``
    horizontal, scales, and puts ``centre`` at ``target``."""
    cx, cy = centre
    a, b = scale * math.cos(angle), scale * math.sin(angle)
    return np.array(
        [
            [a, b, -a * cx - b * cy + target[0]],
            [-b, a, b * cx - a * cy + target[1]],
        ]
    )


def alignment_matrix(
    right_eye: np.ndarray,
    left_eye: np.ndarray,
    size: int,
    iod_fraction: float = 0.30,
    eye_y: float = 0.40,
) -> np.ndarray:
    """2x3 matrix mapping image points to the aligned face: eye midpoint to
    (size/2, eye_y*size), eyes horizontal and ``iod_fraction*size`` apart."""
    r = np.asarray(right_eye, dtype=np.float64)
    le = np.asarray(left_eye, dtype=np.float64)
    iod = math.hypot(*(le - r))
    if iod <= 0:
        raise ValueError("the two eyes are at the same point")
    cx, cy = (r + le) / 2.0
    return similarity_matrix(
        (cx, cy), eye_line_angle(r, le), iod_fraction * size / iod, (size / 2.0, eye_y * size)
    )


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    return pts @ matrix[:, :2].T + matrix[:, 2]


def matrix_scale(matrix: np.ndarray) -> float:
    return float(math.hypot(matrix[0, 0], matrix[1, 0]))


def warp_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned ``size`` x ``size`` face: one cv2.warpAffine.

    When the face is shrunk by more than 2x, a prefilter (area resize of just the face's
    region) comes first so a large face in a 20 MP photo does not alias.
    """
    scale = matrix_scale(matrix)
    m = np.asarray(matrix, dtype=np.float64)
    if scale < 0.5:
        inverse = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
        src = transform_points(inverse, corners)
        h, w = image.shape[:2]
        x0, y0 = (max(0, int(v) - 2) for v in src.min(axis=0))
        x1 = min(w, math.ceil(src[:, 0].max()) + 2)
        y1 = min(h, math.ceil(src[:, 1].max()) + 2)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            factor = min(1.0, scale * 1.5)
            region = image[y0:y1, x0:x1]
            small = cv2.resize(
                region,
                (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))),
                interpolation=cv2.INTER_AREA,
            )
            fx = small.shape[1] / (x1 - x0)
            fy = small.shape[0] / (y1 - y0)
            # Compose: aligned <- image, image <- small region.
            to_image = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]])
            m = m @ to_image
            image = small
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
