"""Head pose (roll, yaw, pitch in degrees) from 3D face-mesh landmarks: pure geometry.

The face's own axes are built from the mesh: x from the subject's right eye outer corner
to the left one, y from the top of the forehead to the chin (made orthogonal to x), z
their cross product. Their rotation against the camera is decomposed as
R = Rz(roll) Ry(yaw) Rx(pitch). Signs, with image x right, y down and z away from the
camera (MediaPipe's depth: smaller is nearer):
- roll > 0: head tilted clockwise as seen on screen (same sign as ``align.roll_degrees``);
- yaw > 0: the face turned so that its left side (image right) comes nearer the camera;
- pitch > 0: the chin farther from the camera than the forehead (looking down).
"""

from __future__ import annotations

import math

import numpy as np

RIGHT_EYE_OUTER, LEFT_EYE_OUTER, FOREHEAD, CHIN = 33, 263, 10, 152


def rotation_from_axes(x_axis: np.ndarray, y_axis: np.ndarray) -> np.ndarray:
    x = np.asarray(x_axis, dtype=np.float64)
    x = x / np.linalg.norm(x)
    y = np.asarray(y_axis, dtype=np.float64)
    y = y - (y @ x) * x
    y = y / np.linalg.norm(y)
    z = np.cross(x, y)
    return np.column_stack([x, y, z])


def euler_zyx(rotation: np.ndarray) -> tuple[float, float, float]:
    """(roll, yaw, pitch) in degrees of R = Rz(roll) Ry(yaw) Rx(pitch)."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    pitch = math.atan2(r[2, 1], r[2, 2])
    roll = math.atan2(r[1, 0], r[0, 0])
    return math.degrees(roll), math.degrees(yaw), math.degrees(pitch)


def rotation_zyx(roll: float, yaw: float, pitch: float) -> np.ndarray:
    """The rotation matrix for angles in degrees (inverse of ``euler_zyx``)."""
    r, y, p = (math.radians(v) for v in (roll, yaw, pitch))
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    return rz @ ry @ rx


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(roll, yaw, pitch) in degrees from (N, 3) mesh landmarks in one uniform scale."""
    pts = np.asarray(landmarks, dtype=np.float64)
    x_axis = pts[LEFT_EYE_OUTER] - pts[RIGHT_EYE_OUTER]
    y_axis = pts[CHIN] - pts[FOREHEAD]
    return euler_zyx(rotation_from_axes(x_axis, y_axis))
