"""One image or video frame in, one aligned face (or the reason there is none) out.

``FaceProcessor.process_image`` is what the assessment engine calls per photo;
``process_frame`` is the same for consecutive video frames, tracking the face with the
face mesh between full detections (every ``redetect_every`` frames, or when the track is
lost) instead of detecting from scratch each frame.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from pedpain.vision.align import alignment_matrix, eye_centres, roll_degrees, warp_face
from pedpain.vision.config import PreprocessConfig
from pedpain.vision.detect import SHORT_RANGE, BlazeFace, Detection, FaceDetector, create_detector
from pedpain.vision.landmarks import (
    FaceMesh,
    landmark_box,
    roi_from_box,
    roi_from_landmarks,
)
from pedpain.vision.photometric import normalise_face
from pedpain.vision.pose import head_pose
from pedpain.vision.quality import exposure, luminance, sharpness
from pedpain.vision.selection import Subject, choose_face
from pedpain.vision.timing import StageTimes

NAN = float("nan")
CHECK_EVERY = 10  # video frames between landmark-confidence checks while tracking

# Reasons a frame is not valid (frames.csv `reason`).
REASONS = ("no_face", "wrong_face", "face_too_small", "too_blurred", "too_dark", "too_bright")


@dataclass
class FaceResult:
    """The face of one image/frame. ``image`` is the aligned, photometrically normalised
    ``size`` x ``size`` RGB uint8 face (None when no face was found); ``valid`` says
    whether it is good enough to use and ``reason`` why not."""

    found: bool
    valid: bool
    reason: str = ""
    image: np.ndarray | None = field(default=None, repr=False)
    box: tuple[float, float, float, float] | None = None
    score: float = NAN
    roll_deg: float = NAN
    yaw_deg: float = NAN
    pitch_deg: float = NAN
    iod_px: float = NAN
    sharpness: float = NAN
    brightness: float = NAN
    contrast: float = NAN
    landmark_conf: float = NAN
    faces_in_frame: int = 0
    tracked: bool = False
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None
    #: (468, 3) face-mesh landmarks in source pixels (None without the mesh) and the 2x3
    #: matrix mapping source pixels to ``image``: the explanation's facial geometry.
    landmarks: np.ndarray | None = field(default=None, repr=False)
    matrix: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def no_face(cls, faces_in_frame: int = 0) -> FaceResult:
        return cls(found=False, valid=False, reason="no_face", faces_in_frame=faces_in_frame)

    def quality(self) -> dict[str, Any]:
        """The quality measures as a flat dict (NaN where not measured)."""
        return {
            "face_score": self.score,
            "face_w": self.box[2] if self.box else NAN,
            "iod_px": self.iod_px,
            "sharpness": self.sharpness,
            "brightness": self.brightness,
            "contrast": self.contrast,
            "roll_deg": self.roll_deg,
            "yaw_deg": self.yaw_deg,
            "pitch_deg": self.pitch_deg,
            "landmark_conf": self.landmark_conf,
            "faces_in_frame": self.faces_in_frame,
        }


class FaceProcessor:
    """Detection, selection, landmarks, alignment, quality and photometric normalisation.

    One instance per worker; call ``reset()`` between video clips. Not thread-safe.
    """

    def __init__(
        self, config: PreprocessConfig | None = None, detector: FaceDetector | None = None
    ) -> None:
        self.config = config or PreprocessConfig()
        self.detector = detector or create_detector(
            self.config.detector, min_score=self.config.min_detection_score
        )
        # The Haar backend is a full fallback: no MediaPipe at all, eyes from Haar.
        self.use_mesh = self.config.detector == "mediapipe"
        self._mesh: FaceMesh | None = None
        self._checker: BlazeFace | None = None
        #: Where the time goes (detect, landmarks, align, quality), when a caller asks.
        self.times: StageTimes | None = None
        self.reset()

    # ----------------------------------------------------------------- public
    def reset(self) -> None:
        """Forget the previous clip: track, subject and face count."""
        self._track: np.ndarray | None = None
        self._since_detect = 0
        self._subject: Subject | None = None
        self._frame = -1
        self._faces = 0
        self._conf = NAN
        self._score = NAN

    def process_image(self, rgb: np.ndarray) -> FaceResult:
        """A photo (or any single frame without history)."""
        with self._measure("detect"):
            dets = self.detector.detect(rgb)
        if not dets:
            return FaceResult.no_face()
        index, _ = choose_face(dets, self._policy_for_photo(), _size(rgb))
        det = dets[index]
        landmarks = self._landmarks_of(rgb, det)
        return self._finish(rgb, det, landmarks, det.score, len(dets), tracked=False, check=True)

    def process_frame(self, rgb: np.ndarray) -> FaceResult:
        """The next frame of a clip: tracked from the previous frame when possible."""
        self._frame += 1
        tracking = self.use_mesh and self._track is not None
        if tracking and self._since_detect < self.config.redetect_every:
            assert self._track is not None
            with self._measure("landmarks"):
                roi = roi_from_landmarks(self._track)
                landmarks = self._mesh_model().landmarks(rgb, roi)
            if landmarks is not None:
                self._since_detect += 1
                self._track = landmarks
                self._remember(landmark_box(landmarks))
                check = self._frame % CHECK_EVERY == 0
                return self._finish(
                    rgb, None, landmarks, NAN, self._faces, tracked=True, check=check
                )
        return self._detect_frame(rgb)

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
        if self._checker is not None:
            self._checker.close()
        self.detector.close()

    # ---------------------------------------------------------------- private
    def _measure(self, stage: str) -> contextlib.AbstractContextManager[None]:
        return self.times.measure(stage) if self.times is not None else contextlib.nullcontext()

    def _policy_for_photo(self) -> str:
        return "largest" if self.config.face_policy == "consistent" else self.config.face_policy

    def _mesh_model(self) -> FaceMesh:
        if self._mesh is None:
            self._mesh = FaceMesh()
        return self._mesh

    def _landmarks_of(self, rgb: np.ndarray, det: Detection) -> np.ndarray | None:
        """Face-mesh landmarks of a fresh detection (None without the mesh or when the
        model sees no face in the detection's region)."""
        if not self.use_mesh:
            return None
        with self._measure("landmarks"):
            roi = roi_from_box(_box(det), det.right_eye, det.left_eye)
            return self._mesh_model().landmarks(rgb, roi, refine=True)

    def _remember(self, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        self._subject = Subject(x + w / 2, y + h / 2, w, self._frame)

    def _detect_frame(self, rgb: np.ndarray) -> FaceResult:
        c = self.config
        with self._measure("detect"):
            dets = self.detector.detect(rgb)
        self._since_detect = 0
        self._faces = len(dets)
        if not dets:
            self._track = None
            return FaceResult.no_face()
        memory = round(c.wrong_face_memory_s * c.fps)
        index, wrong = choose_face(
            dets, c.face_policy, _size(rgb), self._subject, self._frame, c.wrong_face_jump, memory
        )
        det = dets[index]
        landmarks = self._landmarks_of(rgb, det)
        if wrong:
            self._track = None  # do not follow someone else; look again next frame
        else:
            self._track = landmarks
            self._remember(landmark_box(landmarks) if landmarks is not None else _box(det))
        result = self._finish(rgb, det, landmarks, det.score, len(dets), tracked=False, check=True)
        if wrong:
            result.valid, result.reason = False, "wrong_face"
        return result

    def _finish(
        self,
        rgb: np.ndarray,
        det: Detection | None,
        landmarks: np.ndarray | None,
        score: float,
        n_faces: int,
        tracked: bool,
        check: bool,
    ) -> FaceResult:
        c = self.config
        started = time.perf_counter()
        if landmarks is not None:
            right, left = eye_centres(landmarks)
            box = landmark_box(landmarks)
            roll, yaw, pitch = head_pose(landmarks)
        elif det is not None and det.right_eye is not None and det.left_eye is not None:
            right, left = np.asarray(det.right_eye, float), np.asarray(det.left_eye, float)
            box = _box(det)
            yaw = pitch = NAN
        else:
            return FaceResult.no_face(n_faces)
        roll = roll_degrees(right, left)  # from the eyes, the line alignment levels
        iod = float(math.hypot(*(left - right)))
        if iod < 1.0:
            return FaceResult.no_face(n_faces)
        matrix = alignment_matrix(right, left, c.size, c.iod_fraction, c.eye_y)
        raw = warp_face(rgb, matrix, c.size)
        grey = luminance(raw)
        sharp = sharpness(grey)
        bright, contrast = exposure(grey)
        if check and self.use_mesh:
            checked = time.perf_counter()
            self._conf = self._check_face(raw)
            if self.times is not None:  # the second detector is a quality measure
                self.times.add("quality", time.perf_counter() - checked)
                started += time.perf_counter() - checked
        conf = self._conf if self.use_mesh else NAN
        if not math.isnan(score):
            self._score = score
        face = normalise_face(raw, c.denoise, c.white_balance, c.clahe)
        reason = ""
        if iod < c.min_iod_px:
            reason = "face_too_small"
        elif sharp < c.min_sharpness:
            reason = "too_blurred"
        elif bright < c.min_brightness:
            reason = "too_dark"
        elif bright > c.max_brightness:
            reason = "too_bright"
        if self.times is not None:
            self.times.add("align", time.perf_counter() - started)
        return FaceResult(
            found=True,
            valid=not reason,
            reason=reason,
            image=face,
            box=box,
            score=score if not math.isnan(score) else conf,
            roll_deg=roll,
            yaw_deg=yaw,
            pitch_deg=pitch,
            iod_px=iod,
            sharpness=sharp,
            brightness=bright,
            contrast=contrast,
            landmark_conf=conf,
            faces_in_frame=n_faces,
            tracked=tracked,
            eyes=((float(right[0]), float(right[1])), (float(left[0]), float(left[1]))),
            landmarks=landmarks,
            matrix=matrix,
        )

    def _check_face(self, raw: np.ndarray) -> float:
        """How face-like the aligned face looks to a second detector (MediaPipe's short
        range BlazeFace) on 128 px: near 1 for a clear face, lower when occluded or
        atypical, 0 below the model's floor of 0.5."""
        if self._checker is None:
            self._checker = BlazeFace(SHORT_RANGE, min_score=0.0)
        small = cv2.resize(raw, (128, 128), interpolation=cv2.INTER_AREA)
        return float(self._checker.best_score(small))


def _size(rgb: np.ndarray) -> tuple[int, int]:
    return int(rgb.shape[1]), int(rgb.shape[0])


def _box(det: Detection) -> tuple[float, float, float, float]:
    return (det.x, det.y, det.w, det.h)


def align_image(rgb: np.ndarray, config: PreprocessConfig | None = None) -> FaceResult:
    """Detect, select and align the face of one RGB image (convenience for notebooks;
    create one FaceProcessor and reuse it when processing many images)."""
    processor = FaceProcessor(config)
    try:
        return processor.process_image(rgb)
    finally:
        processor.close()
