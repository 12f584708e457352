"""Faces in real photos: alignment of rotated faces, small faces, several faces, no face,
hard lighting, and the Haar fallback backend."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pedpain.vision import FaceProcessor, PreprocessConfig
from pedpain.vision.detect import available_detectors, create_detector
from vision_media import astronaut, cat, grace, place, rotate


@pytest.fixture(scope="module")
def processor() -> FaceProcessor:
    return FaceProcessor(PreprocessConfig())


def _eye_line_after(processor: FaceProcessor, face: np.ndarray) -> float:
    """Measure the eye line of an aligned face again: pad it so the detector sees a
    whole face in context, find its landmarks, return the roll."""
    padded = cv2.copyMakeBorder(face, 128, 128, 128, 128, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    again = processor.process_image(padded)
    assert again.found
    return again.roll_deg


@pytest.mark.parametrize("angle", [-35.0, -12.0, 0.0, 20.0, 40.0])
@pytest.mark.parametrize("photo", ["grace", "astronaut"])
def test_rotated_faces_come_out_level(processor: FaceProcessor, photo: str, angle: float) -> None:
    img = {"grace": grace, "astronaut": astronaut}[photo]()
    result = processor.process_image(rotate(img, angle))
    assert result.found and result.valid, result.reason
    assert result.image is not None and result.image.shape == (256, 256, 3)
    upright = processor.process_image(img).roll_deg
    # the photo turned counter-clockwise by `angle` shows the head tilted by -angle more
    assert result.roll_deg == pytest.approx(upright - angle, abs=3.0)
    assert abs(_eye_line_after(processor, result.image)) < 2.0


def test_output_size_follows_config() -> None:
    p = FaceProcessor(PreprocessConfig(size=128))
    result = p.process_image(grace())
    assert result.image is not None and result.image.shape == (128, 128, 3)


def test_small_face_in_large_frame(processor: FaceProcessor) -> None:
    face = cv2.resize(grace(), (384, 450))  # face about 150 px wide
    frame = place((1080, 1920), face, 1450, 560)
    result = processor.process_image(frame)
    assert result.found and result.valid
    assert result.box is not None and 1450 < result.box[0] < 1450 + 384
    assert 120 < result.box[2] < 200


def test_tiny_face_found_by_tiling() -> None:
    detector = create_detector("mediapipe")
    face = cv2.resize(grace(), (128, 150))  # face about 50 px wide in 1920x1080
    frame = place((1080, 1920), face, 200, 800)
    dets = detector.detect(frame)
    assert len(dets) == 1
    cx, cy = dets[0].centre
    assert 200 < cx < 328 and 800 < cy < 950


def two_faces() -> np.ndarray:
    """Grace Hopper (face about 210 px) and the astronaut (about 100 px) side by side."""
    frame = place((620, 1100), grace(), 0, 10)
    frame[50:562, 560:1072] = astronaut()
    return frame


def test_two_faces_flagged_and_policy_picks(processor: FaceProcessor) -> None:
    result = processor.process_image(two_faces())
    assert result.faces_in_frame == 2
    assert result.box is not None and result.box[0] < 500  # largest: Grace Hopper
    center = FaceProcessor(PreprocessConfig(face_policy="center")).process_image(two_faces())
    assert center.faces_in_frame == 2
    assert center.box is not None and center.box[0] > 560  # nearer the middle: astronaut


def test_no_face_on_a_cat_and_on_grey(processor: FaceProcessor) -> None:
    assert processor.process_image(cat()).reason == "no_face"
    grey = np.full((480, 640, 3), 128, np.uint8)
    result = processor.process_image(grey)
    assert not result.found and result.reason == "no_face" and result.image is None


def test_dark_face_still_found_and_measured(processor: FaceProcessor) -> None:
    dark = (grace().astype(np.float32) * 0.3).astype(np.uint8)
    result = processor.process_image(dark)
    normal = processor.process_image(grace())
    assert result.found
    assert result.brightness < 0.4 * normal.brightness
    very_dark = (grace().astype(np.float32) * 0.08).astype(np.uint8)
    assert processor.process_image(very_dark).valid is False


def test_noisy_face_found(processor: FaceProcessor) -> None:
    rng = np.random.default_rng(1)
    noisy = np.clip(grace() + rng.normal(0, 25, grace().shape), 0, 255).astype(np.uint8)
    result = processor.process_image(noisy)
    assert result.found and result.valid
    assert abs(result.roll_deg - processor.process_image(grace()).roll_deg) < 3


def test_blurred_face_invalid(processor: FaceProcessor) -> None:
    blurred = cv2.GaussianBlur(astronaut(), (0, 0), 6)
    result = processor.process_image(blurred)
    assert result.found and not result.valid and result.reason == "too_blurred"


def test_quality_measures_present(processor: FaceProcessor) -> None:
    q = processor.process_image(grace()).quality()
    assert 0.5 < q["face_score"] <= 1 and 0.5 < q["landmark_conf"] <= 1
    assert q["sharpness"] > 12 and 60 < q["brightness"] < 200
    assert abs(q["yaw_deg"]) < 15 and abs(q["pitch_deg"]) < 25 and q["iod_px"] > 40


def test_haar_backend_is_a_full_fallback() -> None:
    assert available_detectors() == ("haar", "mediapipe")
    p = FaceProcessor(PreprocessConfig(detector="haar"))
    result = p.process_image(grace())
    assert result.found and result.image is not None and result.image.shape == (256, 256, 3)
    assert np.isnan(result.yaw_deg)  # no mesh: no pose beyond roll
    with pytest.raises(ValueError, match="unknown face detector"):
        create_detector("retinaface")
