"""Pure maths of face preprocessing, with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pedpain.vision.align import alignment_matrix, roll_degrees, transform_points
from pedpain.vision.detect import Detection, non_max_suppression, tile_grid
from pedpain.vision.photometric import grey_world, standardise
from pedpain.vision.pose import euler_zyx, head_pose, rotation_zyx
from pedpain.vision.selection import Subject, choose_face
from pedpain.vision.video import BestWindow, outputs_for_source_frame


def test_alignment_puts_eyes_at_fixed_points() -> None:
    m = alignment_matrix(np.array([100.0, 200.0]), np.array([160.0, 200.0]), 256)
    out = transform_points(m, np.array([[100.0, 200.0], [160.0, 200.0]]))
    # iod 0.30 * 256 = 76.8 px apart, centred on x = 128, at y = 0.40 * 256 = 102.4
    np.testing.assert_allclose(out, [[89.6, 102.4], [166.4, 102.4]], atol=1e-9)


@given(
    st.floats(-170, 170),
    st.floats(5, 500),
    st.floats(0, 2000),
    st.floats(0, 2000),
    st.sampled_from([64, 128, 256, 512]),
)
def test_alignment_levels_any_eye_line(
    angle: float, iod: float, cx: float, cy: float, size: int
) -> None:
    a = math.radians(angle)
    half = np.array([math.cos(a), math.sin(a)]) * iod / 2
    right, left = np.array([cx, cy]) - half, np.array([cx, cy]) + half
    assert roll_degrees(right, left) == pytest.approx(angle, abs=1e-6)
    out = transform_points(alignment_matrix(right, left, size), np.stack([right, left]))
    np.testing.assert_allclose(out[0], [size * 0.35, size * 0.40], atol=1e-6)
    np.testing.assert_allclose(out[1], [size * 0.65, size * 0.40], atol=1e-6)


def test_alignment_refuses_coincident_eyes() -> None:
    with pytest.raises(ValueError):
        alignment_matrix(np.array([5.0, 5.0]), np.array([5.0, 5.0]), 256)


def test_roll_sign_clockwise_positive() -> None:
    assert roll_degrees(np.array([0.0, 0.0]), np.array([10.0, 10.0])) == pytest.approx(45.0)
    assert roll_degrees(np.array([0.0, 0.0]), np.array([10.0, -10.0])) == pytest.approx(-45.0)


def _canonical_face() -> np.ndarray:
    pts = np.zeros((468, 3))
    pts[33] = (-1.0, 0.0, 0.0)  # subject's right eye outer corner (image left)
    pts[263] = (1.0, 0.0, 0.0)
    pts[10] = (0.0, -1.5, 0.0)  # forehead
    pts[152] = (0.0, 1.8, 0.0)  # chin
    return pts


@given(st.floats(-60, 60), st.floats(-60, 60), st.floats(-60, 60))
def test_head_pose_recovers_known_rotation(roll: float, yaw: float, pitch: float) -> None:
    pts = _canonical_face() @ rotation_zyx(roll, yaw, pitch).T
    got = head_pose(pts)
    assert got == pytest.approx((roll, yaw, pitch), abs=1e-6)


def test_head_pose_frontal_is_zero_and_euler_roundtrip() -> None:
    assert head_pose(_canonical_face()) == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    assert euler_zyx(rotation_zyx(10, 20, 30)) == pytest.approx((10, 20, 30))


def test_resampling_30_to_25_drops_one_in_six() -> None:
    counts = [len(outputs_for_source_frame(i, 30, 25)) for i in range(450)]
    assert counts[:6] == [1, 1, 1, 1, 1, 0]
    assert sum(counts) == 375
    assert sum(len(outputs_for_source_frame(i, 30, 25)) for i in range(120)) == 100


def test_resampling_15_to_25_repeats_and_covers_every_output_once() -> None:
    outs = [k for i in range(30) for k in outputs_for_source_frame(i, 15, 25)]
    assert outs == list(range(50))
    assert [len(outputs_for_source_frame(i, 25, 25)) for i in range(3)] == [1, 1, 1]


def test_best_window_most_valid_earliest_on_ties() -> None:
    w: BestWindow[int] = BestWindow(3)
    for i, v in enumerate([0, 1, 0, 1, 1, 0, 0]):
        w.push(i, bool(v))
    assert w.result() == (1, [1, 2, 3])  # 2 valid; later windows with 2 lose the tie
    assert not w.complete
    w2: BestWindow[int] = BestWindow(3)
    for i, v in enumerate([0, 1, 0, 1, 1, 1, 0]):
        w2.push(i, bool(v))
    assert w2.result() == (3, [3, 4, 5]) and w2.complete


def test_best_window_short_clip_kept_whole() -> None:
    w: BestWindow[int] = BestWindow(250)
    for i in range(100):
        w.push(i, i % 2 == 0)
    assert w.result() == (0, list(range(100)))


def test_tiles_cover_image_with_overlap() -> None:
    tiles = tile_grid(1920, 1080, 2)
    assert all(x + w <= 1920 and y + h <= 1080 for x, y, w, h in tiles)
    assert {t[2] for t in tiles} == {720} and len(tiles) == 8
    cover = np.zeros((1080, 1920), bool)
    for x, y, w, h in tiles:
        cover[y : y + h, x : x + w] = True
    assert cover.all()


def _det(x: float, y: float, w: float, score: float = 0.9) -> Detection:
    return Detection(x, y, w, w, score)


def test_face_policies() -> None:
    dets = [_det(0, 0, 50), _det(400, 300, 120), _det(290, 190, 60)]
    assert choose_face(dets, "largest", (640, 480)) == (1, False)
    assert choose_face(dets, "center", (640, 480)) == (2, False)
    assert choose_face(dets, "consistent", (640, 480)) == (1, False)  # no history: largest
    subject = Subject(25, 25, 50, frame=10)
    assert choose_face(dets, "consistent", (640, 480), subject, frame=12) == (0, False)
    # only a far face, subject seen 2 frames ago: the wrong face
    assert choose_face(dets[1:], "consistent", (640, 480), subject, frame=12) == (1, True)
    # subject not seen for longer than the memory: take the nearest
    assert choose_face(
        dets[1:], "consistent", (640, 480), subject, frame=100, memory_frames=50
    ) == (1, False)


def test_nms_keeps_best_of_overlaps() -> None:
    kept = non_max_suppression([_det(0, 0, 100, 0.6), _det(5, 5, 100, 0.9), _det(300, 0, 80, 0.7)])
    assert [d.score for d in kept] == [0.9, 0.7]


def test_standardise_zero_mean_unit_variance() -> None:
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    x = standardise(batch)
    assert x.dtype == np.float32 and x.shape == batch.shape
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1, atol=1e-4)
    flat = standardise(np.full((8, 8, 3), 7, np.uint8))  # constant image: no division by 0
    assert np.all(flat == 0)


def test_grey_world_removes_a_colour_cast() -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    img[...] = (200, 100, 50)
    out = grey_world(img)
    assert out[0, 0].tolist() == [117, 117, 117]
