"""Face-mesh landmarks (468 points) from MediaPipe, computed on a crop around the face.

Working on a crop (a square of ``CROP_SIDE`` px around a detection or around the previous
frame's landmarks) is what lets small faces in large frames get landmarks at all: the
mesh's own detector only sees faces that fill a good part of its input. In tracking mode
(videos) the crop follows the face and MediaPipe's graph reuses the previous landmarks as
its region of interest, so no detection runs while the face stays in view.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIDE = 192  # the face-mesh model's own input size: a larger crop is only shrunk again
DETECTION_MARGIN = 2.0  # crop side / detection box side
LANDMARK_MARGIN = 1.6  # crop side / landmark bounding box side


class FaceMesh:
    def __init__(self, tracking: bool, min_confidence: float = 0.5) -> None:
        from pedpain.vision.mp_solutions import mediapipe, quiet

        self._mesh = quiet(
            lambda: mediapipe().solutions.face_mesh.FaceMesh(
                static_image_mode=not tracking,
                max_num_faces=1,
                refine_landmarks=False,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
        )

    def landmarks(
        self, rgb: np.ndarray, centre: tuple[float, float], side: float
    ) -> np.ndarray | None:
        """(468, 3) landmarks in image pixels (z in the same scale, smaller = nearer) for
        the face inside the square of ``side`` px around ``centre``; None if none."""
        k = CROP_SIDE / max(side, 1.0)
        x0 = centre[0] - side / 2
        y0 = centre[1] - side / 2
        to_crop = np.array([[k, 0, -k * x0], [0, k, -k * y0]])
        interp = cv2.INTER_AREA if k < 0.5 else cv2.INTER_LINEAR
        if k < 0.5:
            crop = _area_crop(rgb, x0, y0, side)
        else:
            crop = cv2.warpAffine(
                rgb, to_crop, (CROP_SIDE, CROP_SIDE), flags=interp, borderMode=cv2.BORDER_CONSTANT
            )
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        marks = result.multi_face_landmarks[0].landmark
        pts = np.array([(p.x, p.y, p.z) for p in marks], dtype=np.float64)
        pts *= CROP_SIDE
        pts[:, 0] = pts[:, 0] / k + x0
        pts[:, 1] = pts[:, 1] / k + y0
        pts[:, 2] = pts[:, 2] / k
        return pts

    def reset(self) -> None:
        self._mesh.reset()

    def close(self) -> None:
        self._mesh.close()


def _area_crop(rgb: np.ndarray, x0: float, y0: float, side: float) -> np.ndarray:
    """The square crop shrunk with area averaging (a big face in a big photo), padded
    with black where it leaves the image."""
    h, w = rgb.shape[:2]
    ix0, iy0 = round(x0), round(y0)
    iside = max(1, round(side))
    sx0, sy0 = max(0, ix0), max(0, iy0)
    sx1, sy1 = min(w, ix0 + iside), min(h, iy0 + iside)
    canvas = np.zeros((iside, iside, 3), dtype=rgb.dtype)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - iy0 : sy1 - iy0, sx0 - ix0 : sx1 - ix0] = rgb[sy0:sy1, sx0:sx1]
    return cv2.resize(canvas, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, w, h) bounding box of the landmarks."""
    x0, y0 = landmarks[:, :2].min(axis=0)
    x1, y1 = landmarks[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
