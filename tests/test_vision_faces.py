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


def test_landmark_model_regions_agree_whatever_their_turn() -> None:
    """The same face through regions turned by different angles (the model always sees
    it level) gives the same landmarks: the region's transform is undone exactly."""
    from pedpain.vision.landmarks import FaceMesh, Roi, roi_from_landmarks

    img = rotate(grace(), 25.0)
    result = FaceProcessor(PreprocessConfig()).process_image(img)
    assert result.landmarks is not None
    level = roi_from_landmarks(result.landmarks)
    assert np.degrees(level.angle) == pytest.approx(result.roll_deg, abs=1.0)
    mesh = FaceMesh()
    try:
        ref, presence = mesh.run(img, level)
        assert presence > 0.9
        iod = result.iod_px
        for turn in (-8.0, 8.0):
            turned = Roi(level.cx, level.cy, level.side, level.angle + np.radians(turn))
            pts, p = mesh.run(img, turned)
            assert p > 0.9
            err = np.linalg.norm(pts[:, :2] - ref[:, :2], axis=1)
            assert np.median(err) < 0.05 * iod, (turn, np.median(err) / iod)
        # the landmarks span the face: inter-ocular distance a plausible share of it
        assert 0.25 < iod / level.side < 0.45
        # no face in a region of plain background: low presence, no landmarks
        empty = np.full((480, 640, 3), 120, np.uint8)
        assert mesh.landmarks(empty, Roi(320, 240, 200)) is None
    finally:
        mesh.close()


def test_photometric_steps_touch_what_they_say() -> None:
    """White balance changes colour; denoising and CLAHE change luminance alone, and
    denoising smooths noise; all off leaves the face untouched."""
    from pedpain.vision.photometric import normalise_face

    rng = np.random.default_rng(0)
    face = cv2.resize(grace(), (256, 256), interpolation=cv2.INTER_AREA)
    face = 50 + 0.6 * face  # mid-tones: RGB does not clip when luminance moves
    noisy = np.clip(face + rng.normal(0, 6, face.shape), 0, 255).astype(np.uint8)
    assert np.array_equal(normalise_face(noisy, False, False, False), noisy)

    def ycc(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(int)

    for denoise_on, clahe in ((True, False), (False, True)):
        out = normalise_face(noisy, denoise_on, False, clahe)
        diff = np.abs(ycc(out) - ycc(noisy))
        assert diff[..., 0].mean() > 0.5  # luminance changed
        # colour only by rounding (and clipping where a channel saturates)
        assert diff[..., 1:].mean() < 0.3 and np.percentile(diff[..., 1:], 99) <= 1
    smooth = normalise_face(noisy, True, False, False)
    assert np.std(ycc(smooth)[..., 0] - ycc(noisy)[..., 0]) > 1.0
    # on a flat patch with a step edge: noise goes, the edge stays
    flat = np.full((64, 64, 3), 90.0)
    flat[:, 32:] = 170.0
    grainy = np.clip(flat + rng.normal(0, 6, flat.shape), 0, 255).astype(np.uint8)
    y_in, y_out = (ycc(x)[..., 0] for x in (grainy, normalise_face(grainy, True, False, False)))
    inside = (slice(4, 60), slice(4, 28))
    assert np.std(y_out[inside]) < 0.5 * np.std(y_in[inside])
    step_in = y_in[:, 34:].mean() - y_in[:, :30].mean()
    step_out = y_out[:, 34:].mean() - y_out[:, :30].mean()
    assert step_out == pytest.approx(step_in, rel=0.02)
    assert np.abs(y_out[:, 33].astype(int) - y_out[:, 30]).mean() > 0.9 * step_in
    cast = np.clip(noisy * np.array([1.3, 1.0, 0.7]), 0, 255).astype(np.uint8)
    balanced = normalise_face(cast, False, True, False).reshape(-1, 3).mean(axis=0)
    assert np.ptp(balanced) < 3.0


@pytest.mark.parametrize("model_selection", [1, 0])
def test_blazeface_run_directly_matches_mediapipes_graph(model_selection: int) -> None:
    """The detectors decoded here (anchors, boxes, keypoints, blending) agree with
    MediaPipe's own solution graph around the same model files."""
    from pedpain.vision.detect import FULL_RANGE, SHORT_RANGE, BlazeFace
    from pedpain.vision.mp_solutions import mediapipe, quiet

    spec = FULL_RANGE if model_selection == 1 else SHORT_RANGE
    ours = BlazeFace(spec, min_score=0.5)
    theirs = quiet(
        lambda: mediapipe().solutions.face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=0.5
        )
    )
    try:
        for img in (grace(), astronaut(), rotate(grace(), 30.0), cat()):
            # At the model's input size (letterboxed when not square) both see the same
            # pixels, so the results must agree to rounding; larger images are resized
            # by each in its own way (area averaging here).
            small = cv2.resize(img, (spec.side, spec.side * 3 // 4), interpolation=cv2.INTER_AREA)
            for picture, tol, score_tol in ((small, 0.002, 0.002), (img, 0.08, 0.05)):
                h, w = picture.shape[:2]
                ref = theirs.process(picture).detections or []
                got = ours.detect(picture)
                assert len(got) == len(ref)
                for r, d in zip(ref, sorted(got, key=lambda g: -g.score), strict=True):
                    box = r.location_data.relative_bounding_box
                    kps = np.array([(k.x * w, k.y * h) for k in r.location_data.relative_keypoints])
                    side = box.width * w
                    assert d.score == pytest.approx(float(r.score[0]), abs=score_tol)
                    mine = np.array([d.x, d.y, d.w, d.h])
                    theirs_box = np.array([box.xmin * w, box.ymin * h, side, box.height * h])
                    assert np.abs(mine - theirs_box).max() < tol * side + 0.01
                    assert d.keypoints is not None
                    assert np.linalg.norm(d.keypoints - kps, axis=1).max() < tol * side + 0.01
        assert ours.best_score(cat()) == 0.0
    finally:
        ours.close()
        theirs.close()
