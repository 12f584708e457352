"""Every parameter of face preprocessing in one frozen record, recorded in preprocess.json
and hashed into the resume key so a change of parameters never reuses stale outputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

FacePolicy = Literal["consistent", "largest", "center"]
FACE_POLICIES: tuple[str, ...] = ("consistent", "largest", "center")
IMAGE_FORMATS: tuple[str, ...] = ("jpg", "png")

# Bumped when the processing changes in a way that makes old outputs stale.
PIPELINE_VERSION = 1


@dataclass(frozen=True)
class PreprocessConfig:
    # Geometry: output square side; eyes placed at eye_y*size, iod_fraction*size apart.
    size: int = 256
    iod_fraction: float = 0.30
    eye_y: float = 0.40
    # Detection and selection.
    detector: str = "mediapipe"
    face_policy: FacePolicy = "consistent"
    min_detection_score: float = 0.5
    redetect_every: int = 25  # video frames between full detections while tracking
    # Photometric steps baked into stored images (standardisation is at model input).
    denoise: bool = True
    clahe: bool = True
    white_balance: bool = True
    # Frame validity thresholds (measured on the aligned face before photometric steps).
    min_sharpness: float = 12.0  # variance of the Laplacian at 128 px
    min_brightness: float = 25.0
    max_brightness: float = 235.0
    min_iod_px: float = 10.0  # inter-ocular distance in source pixels
    wrong_face_jump: float = 1.5  # face widths a re-acquired face may be from the subject
    wrong_face_memory_s: float = 2.0
    # Videos.
    fps: float = 25.0
    max_seconds: float = 10.0
    min_valid_fraction: float = 0.1  # below it a video is `low_quality`
    # Reading limits, checked on the header before decoding.
    max_megapixels: float = 100.0
    max_side: int = 30000
    max_video_megapixels: float = 36.0
    # Outputs.
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        if not 32 <= self.size <= 1024:
            raise ValueError(f"size must be between 32 and 1024 pixels, not {self.size}")
        if self.face_policy not in FACE_POLICIES:
            raise ValueError(f"face policy must be one of {', '.join(FACE_POLICIES)}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image format must be one of {', '.join(IMAGE_FORMATS)}")
        if self.fps <= 0 or self.max_seconds <= 0:
            raise ValueError("fps and max_seconds must be positive")

    @property
    def window_frames(self) -> int:
        """Output frames in the longest clip kept (10 s at 25 fps = 250)."""
        return round(self.max_seconds * self.fps)

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), pipeline_version=PIPELINE_VERSION)

    def fingerprint(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PreprocessConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})
