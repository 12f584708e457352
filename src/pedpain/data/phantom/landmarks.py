"""Face-landmark helpers the phantom needs: MediaPipe face mesh and face detection on RGB
images, the mesh's named regions, and the mesh -> iBUG-68/66 point mapping.

They live here until pedpain.vision offers its own detector; MediaPipe is imported lazily
because it is slow to import and most callers never need it.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np

from pedpain.vision.mp_solutions import quiet

#: Number of mesh points with refined irises (468 face + 2 x 5 iris points).
MESH_POINTS = 478

#: The face outline, clockwise from the top of the forehead (image coordinates).
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
#: Eye contours (upper lid then lower lid, corner to corner); "a" is the eye on the image's
#: left (the subject's right), "b" the one on the image's right.
EYE_A_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_A_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
EYE_B_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
EYE_B_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
IRIS_A = (468, 469, 470, 471, 472)
IRIS_B = (473, 474, 475, 476, 477)
BROW_A = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
BROW_B = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
#: Brow outlines as closed polygons (lower edge outer->inner, upper edge inner->outer).
BROW_A_POLY = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
BROW_B_POLY = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
NOSE_TIP = 1
NOSE_ROOT = 168
NOSE_WINGS = (48, 64, 98, 97, 2, 326, 327, 294, 278, 115, 344, 220, 440, 45, 275)
CHIN = 152

#: iBUG-68 point order from mesh indices (jaw right->left of the image, brows, nose, eyes,
#: outer lips, inner lips), chosen by us on the mesh topology.
IBUG68_FROM_MESH = (
    127, 234, 93, 132, 58, 172, 136, 149, 152, 378, 365, 397, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107,
    336, 296, 334, 293, 300,
    168, 197, 5, 4,
    98, 97, 2, 326, 327,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip
#: UNBC's 66 AAM points: iBUG-68 without the inner mouth corners (60 and 64).
IBUG66_FROM_IBUG68 = tuple(i for i in range(68) if i not in (60, 64))


def to_ibug66(mesh: np.ndarray) -> np.ndarray:
    """(66, 2) AAM-style points from a (478|468, >=2) mesh in pixels."""
    pts68 = mesh[list(IBUG68_FROM_MESH), :2]
    return np.asarray(pts68[list(IBUG66_FROM_IBUG68)], dtype=np.float64)


def eye_centres(mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left and image-right eyes (mean of each eye contour)."""
    a = mesh[list(EYE_A_UPPER + EYE_A_LOWER), :2].mean(axis=0)
    b = mesh[list(EYE_B_UPPER + EYE_B_LOWER), :2].mean(axis=0)
    return (a, b) if a[0] <= b[0] else (b, a)


def interocular(mesh: np.ndarray) -> float:
    a, b = eye_centres(mesh)
    return float(np.hypot(*(b - a)))


# MediaPipe graphs are not thread-safe; one instance per thread and one lock per call.
_local = threading.local()


def _mp() -> Any:
    from pedpain.vision.mp_solutions import mediapipe  # slow import, only when needed

    return mediapipe()


def _mesh_model() -> Any:
    model = getattr(_local, "mesh", None)
    if model is None:
        model = quiet(
            lambda: _mp().solutions.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=1
            )
        )
        _local.mesh = model
    return model


def _detector_model() -> Any:
    model = getattr(_local, "detector", None)
    if model is None:
        model = quiet(
            lambda: _mp().solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5
            )
        )
        _local.detector = model
    return model


def face_mesh(rgb: np.ndarray) -> np.ndarray | None:
    """(478, 3) landmarks in pixels (z in the x scale) of the most prominent face, or None."""
    height, width = rgb.shape[:2]
    result = _mesh_model().process(np.ascontiguousarray(rgb))
    if not result.multi_face_landmarks:
        return None
    points = result.multi_face_landmarks[0].landmark
    return np.array([[p.x * width, p.y * height, p.z * width] for p in points], dtype=np.float64)


def detect_faces(rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Faces found by MediaPipe's full-range detector: (x, y, w, h, score) in pixels."""
    height, width = rgb.shape[:2]
    result = _detector_model().process(np.ascontiguousarray(rgb))
    found = []
    for det in result.detections or []:
        box = det.location_data.relative_bounding_box
        found.append(
            (
                box.xmin * width,
                box.ymin * height,
                box.width * width,
                box.height * height,
                float(det.score[0]),
            )
        )
    return found


@lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """The mesh's triangles as (T, 3) point indices, from MediaPipe's tesselation edges."""
    edges = _mp().solutions.face_mesh_connections.FACEMESH_TESSELATION
    adjacency: dict[int, set[int]] = {}
    for a, b in edges:
        adjacency.setdefault(a, set()).add(b)
        adjacency.setdefault(b, set()).add(a)
    triangles = set()
    for a, b in edges:
        for c in adjacency[a] & adjacency[b]:
            triangles.add(tuple(sorted((a, b, c))))
    return np.array(sorted(triangles), dtype=np.int32)


#: Pairs of mesh points whose distance (over the inter-ocular distance) tracks the pain
#: expression: brows to lids (AU4), brow gap (AU4), lid apertures (AU6/7/43), nose wing
#: and lip to the eye line (AU9/10), mouth opening and jaw drop (crying).
EXPRESSION_PAIRS = (
    (105, 159), (334, 386), (107, 336), (66, 159), (296, 386),
    (159, 145), (386, 374), (158, 153), (385, 380),
    (98, 33), (327, 263), (2, 0), (0, 17), (13, 14), (61, 291), (1, 152), (168, 1),
    (33, 145), (263, 374),
)  # fmt: skip


def expression_features(mesh: np.ndarray) -> np.ndarray:
    """Scale- and roll-free geometric features of a face mesh (for quick regressors and
    tests): distances of :data:`EXPRESSION_PAIRS` over the inter-ocular distance, and the
    vertical offsets of brows, nose wings, lips and chin from the eye line."""
    a, b = eye_centres(mesh)
    iod = float(np.hypot(*(b - a))) or 1.0
    angle = np.arctan2(b[1] - a[1], b[0] - a[0])
    c, s = np.cos(-angle), np.sin(-angle)
    pts = (mesh[:, :2] - (a + b) / 2) @ np.array([[c, s], [-s, c]]) / iod
    dist = [float(np.hypot(*(pts[i] - pts[j]))) for i, j in EXPRESSION_PAIRS]
    heights = [float(pts[i, 1]) for i in (105, 334, 107, 336, 98, 327, 0, 13, 14, 17, 152)]
    return np.array(dist + heights, dtype=np.float64)
