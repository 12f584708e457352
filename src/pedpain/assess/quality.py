"""The quality gate: which faces the engine scores and which it refuses to guess on.

Every face gets a verdict from measures the vision layer already takes (size, sharpness,
exposure, head pose, the second detector's confidence) plus an occlusion measure taken
here: the share of the lower face and eye regions whose colour is far from the child's
own skin (a pacifier, a mask, tape and tubes) or which is flat and textureless (a hand
held in front of the face). Thresholds ship as defaults below, can be calibrated on the
phantom cohort's degraded samples (``pedpain.assess.calibrate``) and are then read from
the model folder's ``quality.json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pedpain.models.bundle import QUALITY_FILE as QUALITY_FILE  # callers import it here
from pedpain.vision.processor import FaceResult

OCCLUSION_SIDE = 96

#: Reason codes, in the order they are checked (the first that applies is reported).
REASONS: dict[str, str] = {
    "no_face": "no face found",
    "wrong_face": "the face is not the subject's (another person in view)",
    "face_too_small": "the face is too small in the picture",
    "too_dark": "the face is too dark",
    "too_bright": "the face is over-exposed",
    "too_blurred": "the face is too blurred",
    "extreme_pose": "the head is turned too far from frontal",
    "occluded": "part of the face is covered (pacifier, mask, tube, tape or hand)",
    "face_unclear": "the face is not clearly visible (partly covered or atypical view)",
}

# Face-mesh regions (indices into the 468 landmarks).
MOUTH = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
NOSE_BASE = (98, 97, 2, 326, 327, 164, 0, 37, 39, 40, 185, 61, 291, 409, 270, 269, 267)
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_CHEEK = (116, 117, 118, 101, 36, 205, 187, 123)
LEFT_CHEEK = (345, 346, 347, 330, 266, 425, 411, 352)
FOREHEAD = (109, 10, 338, 337, 151, 9, 108)


@dataclass(frozen=True)
class QualityThresholds:
    """Defaults: a phantom calibration (``pedpain.assess.calibrate``) rounded, within the
    guard rails that keep real ward photos passing."""

    min_iod_px: float = 24.0  # inter-ocular distance in source pixels
    min_sharpness: float = 40.0  # variance of the Laplacian at 128 px (vision.quality)
    min_brightness: float = 45.0
    max_brightness: float = 215.0
    max_yaw_deg: float = 35.0
    max_pitch_deg: float = 30.0
    max_roll_deg: float = 45.0  # alignment levels the eyes; only extreme tilts are refused
    max_occlusion: float = 0.74  # share of a region far from the child's skin colour
    min_face_conf: float = 0.78  # second detector's confidence on the aligned face
    # Clips: the share of analysed frames that must pass, and at least this many.
    min_valid_fraction: float = 0.3
    min_valid_frames: int = 5
    # Identity: largest shape distance from the clip's (or the baseline's) subject.
    max_identity_distance: float = 0.05
    source: str = "defaults"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> QualityThresholds:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    @classmethod
    def for_model(cls, folder: Path | None) -> QualityThresholds:
        """The model folder's calibrated ``quality.json`` when there is one, else the
        defaults shipped here. A damaged file is refused (EnvironmentProblem): a gate
        silently loosened to the defaults would pass faces the calibration rejects."""
        from pedpain.models.bundle import read_quality

        thresholds = read_quality(folder) if folder is not None else None
        if thresholds is None:
            return cls()
        try:
            return cls.from_dict({**thresholds, "source": str(folder)})
        except (TypeError, ValueError):
            from pedpain.core.errors import EnvironmentProblem

            raise EnvironmentProblem(
                f"quality.json in {folder} holds invalid thresholds (damaged file)"
            ) from None


@dataclass
class FaceCheck:
    """One face's verdict: ``reason`` is empty when it passes."""

    reason: str
    measures: dict[str, float]

    @property
    def ok(self) -> bool:
        return not self.reason


def aligned_landmarks(face: FaceResult) -> np.ndarray | None:
    """The face-mesh landmarks (x, y) in the aligned face image's pixels."""
    if face.landmarks is None or face.matrix is None:
        return None
    pts = np.asarray(face.landmarks, dtype=np.float64)[:, :2]
    return pts @ face.matrix[:, :2].T + face.matrix[:, 2]


def _region_mask(shape: tuple[int, int], pts: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(pts[list(idx)]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, (1,))
    return mask.astype(bool)


INNER_MOUTH = (
    78,
    191,
    80,
    81,
    82,
    13,
    312,
    311,
    310,
    415,
    308,
    324,
    318,
    402,
    317,
    14,
    87,
    178,
    88,
    95,
)


def _scaled_hull_mask(shape: tuple[int, int], pts: np.ndarray, factor: float) -> np.ndarray:
    centre = pts.mean(axis=0)
    return _region_mask(shape, centre + (pts - centre) * factor, tuple(range(len(pts))))


def occlusion_measures(image: np.ndarray, pts: np.ndarray) -> dict[str, float]:
    """The share of pixels whose chroma (Lab a, b) is far from the child's own skin,
    measured on the forehead (above any mask): ``occ_mouth`` around the lips (a pacifier's
    shield, a mask; the lips' own colour is left out) and ``occ_nose`` under the nose
    (tubes, tape)."""
    # Measured at OCCLUSION_SIDE px: colour shares need no detail, and it is 7x cheaper.
    k = OCCLUSION_SIDE / image.shape[0]
    small = cv2.resize(image, (OCCLUSION_SIDE, OCCLUSION_SIDE), interpolation=cv2.INTER_AREA)
    pts = pts * k
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    shape = (OCCLUSION_SIDE, OCCLUSION_SIDE)
    skin = _region_mask(shape, pts, FOREHEAD)
    if skin.sum() < 20:
        return {"occ_mouth": math.nan, "occ_nose": math.nan}
    chroma = lab[..., 1:]
    ref = np.median(chroma[skin], axis=0)
    spread = max(3.0, float(np.percentile(np.linalg.norm(chroma[skin] - ref, axis=1), 90)))
    far = np.linalg.norm(chroma - ref, axis=-1) > 2.0 * spread + 6.0
    # Shadows and nostrils have unstable chroma; the occluders that matter are not dark.
    far &= lab[..., 0] > 0.6 * float(np.median(lab[..., 0][skin]))
    lips = pts[list(MOUTH)]
    lip_mask = _region_mask(shape, pts, MOUTH)
    ring = _scaled_hull_mask(shape, lips, 1.4) & ~lip_mask
    nose = _region_mask(shape, pts, NOSE_BASE) & ~lip_mask
    out = {}
    for name, m in (("occ_mouth", ring), ("occ_nose", nose)):
        out[name] = float(far[m].mean()) if m.sum() >= 8 else math.nan
    return out


def face_measures(face: FaceResult) -> dict[str, float]:
    """Everything the gate looks at, as plain numbers (NaN where not measured)."""
    q = face.quality()
    measures: dict[str, float] = {
        "iod_px": float(q["iod_px"]),
        "sharpness": float(q["sharpness"]),
        "brightness": float(q["brightness"]),
        "contrast": float(q["contrast"]),
        "yaw_deg": float(q["yaw_deg"]),
        "pitch_deg": float(q["pitch_deg"]),
        "roll_deg": float(q["roll_deg"]),
        "face_conf": float(q["landmark_conf"]),
        "faces_in_frame": float(q["faces_in_frame"]),
    }
    pts = aligned_landmarks(face)
    if face.image is not None and pts is not None:
        occ = occlusion_measures(face.image, pts)
    else:
        occ = {"occ_mouth": math.nan, "occ_nose": math.nan}
    measures.update(occ)
    values = [v for v in occ.values() if math.isfinite(v)]
    measures["occlusion"] = max(values) if values else math.nan
    return measures


def _over(value: float, limit: float) -> bool:
    return math.isfinite(value) and value > limit


def check_face(face: FaceResult, t: QualityThresholds) -> FaceCheck:
    """The gate for one face; the first failing check names the reason."""
    if not face.found or face.image is None:
        return FaceCheck("no_face", {"faces_in_frame": float(face.faces_in_frame)})
    m = face_measures(face)
    if face.reason == "wrong_face":
        return FaceCheck("wrong_face", m)
    if not m["iod_px"] >= t.min_iod_px:
        return FaceCheck("face_too_small", m)
    if m["brightness"] < t.min_brightness:
        return FaceCheck("too_dark", m)
    if m["brightness"] > t.max_brightness:
        return FaceCheck("too_bright", m)
    if not m["sharpness"] >= t.min_sharpness:
        return FaceCheck("too_blurred", m)
    if (
        _over(abs(m["yaw_deg"]), t.max_yaw_deg)
        or _over(abs(m["pitch_deg"]), t.max_pitch_deg)
        or _over(abs(m["roll_deg"]), t.max_roll_deg)
    ):
        return FaceCheck("extreme_pose", m)
    if _over(m["occlusion"], t.max_occlusion):
        return FaceCheck("occluded", m)
    if math.isfinite(m["face_conf"]) and m["face_conf"] < t.min_face_conf:
        return FaceCheck("face_unclear", m)
    return FaceCheck("", m)


# ------------------------------------------------------------------------------ identity

#: Landmarks that carry the face's shape and move little with expression: the upper face
#: oval, the nose and the eye corners (brows, lids, mouth and jaw are left out).
IDENTITY_POINTS = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 93, 234, 127, 162, 21, 54, 103, 67, 109,
    1, 2, 4, 5, 6, 98, 327, 168, 197, 195, 33, 133, 362, 263,
)  # fmt: skip


def identity_vector(face: FaceResult) -> np.ndarray | None:
    """A pose-normalised shape descriptor: identity landmarks in eye-aligned coordinates,
    in units of the inter-ocular distance (size and roll removed by the alignment)."""
    pts = aligned_landmarks(face)
    if pts is None or face.eyes is None:
        return None
    sel = pts[list(IDENTITY_POINTS)]
    right, left = (np.asarray(e) for e in face.eyes)
    matrix = face.matrix
    assert matrix is not None
    eyes = np.stack([right, left]) @ matrix[:, :2].T + matrix[:, 2]
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))
    if iod < 1:
        return None
    return ((sel - eyes.mean(axis=0)) / iod).ravel()


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square landmark distance between two descriptors (IOD units)."""
    diff = (a - b).reshape(-1, 2)
    return float(np.sqrt((diff**2).sum(axis=1).mean()))


def subject_reference(vectors: list[np.ndarray]) -> np.ndarray | None:
    """The subject's shape: the element-wise median of the descriptors (robust to a
    minority of frames showing someone else)."""
    if not vectors:
        return None
    return np.median(np.stack(vectors), axis=0)


def summarise_reasons(reasons: list[str]) -> tuple[str, str]:
    """(code, message) of the most frequent refusal among ``reasons``."""
    counted = [r for r in reasons if r]
    if not counted:
        return "no_face", REASONS["no_face"]
    code = max(set(counted), key=lambda r: (counted.count(r), -list(REASONS).index(r)))
    return code, REASONS.get(code, code)


def measures_summary(checks: list[FaceCheck]) -> dict[str, Any]:
    """Median of each measure over the faces (the result's ``quality`` block)."""
    keys = sorted({k for c in checks for k in c.measures})
    out: dict[str, Any] = {}
    for k in keys:
        vals = [c.measures[k] for c in checks if math.isfinite(c.measures.get(k, math.nan))]
        out[k] = round(float(np.median(vals)), 4) if vals else None
    return out
