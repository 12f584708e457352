"""Landmark-driven image warps: an exact piecewise-affine map for building identities
(once each), and a fast linear displacement operator for per-frame expressions.

Both are backward maps for ``cv2.remap``: for every output pixel, where to sample the input.
"""

from __future__ import annotations

from typing import Any

import cv2 as _cv2
import numpy as np
from scipy import sparse
from scipy.spatial import Delaunay

# OpenCV's stubs reject the float32 canvases and tuple colours it accepts at run time.
cv2: Any = _cv2


def border_anchors(width: int, height: int, step: int = 32) -> np.ndarray:
    """Fixed points along the canvas border, so the triangulation covers every pixel."""
    xs = np.arange(0, width + step, step, dtype=np.float64).clip(0, width - 1)
    ys = np.arange(0, height + step, step, dtype=np.float64).clip(0, height - 1)
    top = np.stack([xs, np.zeros_like(xs)], 1)
    bottom = np.stack([xs, np.full_like(xs, height - 1)], 1)
    left = np.stack([np.zeros_like(ys), ys], 1)
    right = np.stack([np.full_like(ys, width - 1), ys], 1)
    return np.unique(np.concatenate([top, bottom, left, right]), axis=0)


def _grid(width: int, height: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)


def _barycentric(tri: Delaunay, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    simplex = tri.find_simplex(points)
    simplex = np.where(simplex < 0, 0, simplex)  # only on the hull's rounding edge
    transform = tri.transform[simplex]
    b2 = np.einsum("nij,nj->ni", transform[:, :2], points - transform[:, 2])
    bary = np.concatenate([b2, 1.0 - b2.sum(axis=1, keepdims=True)], axis=1)
    return tri.simplices[simplex], bary


def piecewise_affine_map(
    src_pts: np.ndarray, dst_pts: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps (map_x, map_y) that move ``src_pts`` onto ``dst_pts`` exactly, affine
    inside each triangle of ``dst_pts``' Delaunay triangulation; border anchors stay put."""
    anchors = border_anchors(width, height)
    dst = np.concatenate([dst_pts[:, :2], anchors])
    src = np.concatenate([src_pts[:, :2], anchors])
    tri = Delaunay(dst)
    vertices, bary = _barycentric(tri, _grid(width, height))
    mapped = np.einsum("nk,nkd->nd", bary, src[vertices])
    map_x = mapped[:, 0].reshape(height, width).astype(np.float32)
    map_y = mapped[:, 1].reshape(height, width).astype(np.float32)
    return map_x, map_y


class DisplacementWarp:
    """Per-frame warps of one neutral face: landmark displacements -> a remap.

    The forward displacement of every pixel is the barycentric interpolation of the
    landmarks' displacements over the neutral triangulation (a fixed sparse matrix), and
    the backward map is found by fixed-point iteration. Costs about a millisecond for a
    300 x 300 canvas, so a video frame can afford it.
    """

    def __init__(
        self, points: np.ndarray, width: int, height: int, iterations: int = 2, step: int = 2
    ):
        # The displacement field is smooth: solve it on a coarser grid and upsample.
        anchors = border_anchors(width, height)
        self.n_points = len(points)
        nodes = np.concatenate([points[:, :2], anchors])
        tri = Delaunay(nodes)
        gw, gh = (width + step - 1) // step, (height + step - 1) // step
        grid = _grid(gw, gh) * step
        vertices, bary = _barycentric(tri, grid)
        rows = np.repeat(np.arange(gw * gh), 3)
        matrix = sparse.csr_matrix(
            (bary.ravel(), (rows, vertices.ravel())), shape=(gw * gh, len(nodes))
        )
        # Anchors never move: keep only the landmark columns.
        self.matrix = matrix[:, : self.n_points].tocsr()
        self.width, self.height, self.step = width, height, step
        self.grid_w, self.grid_h = gw, gh
        self.iterations = iterations
        ys, xs = np.mgrid[0:gh, 0:gw]
        self.base_x = xs.astype(np.float32)
        self.base_y = ys.astype(np.float32)
        full_y, full_x = np.mgrid[0:height, 0:width]
        self.full_x = full_x.astype(np.float32)
        self.full_y = full_y.astype(np.float32)

    def maps(self, displacement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps for landmark displacements ``(n_points, 2)`` in pixels."""
        field = (self.matrix @ displacement[:, :2]).astype(np.float32)
        dx = np.ascontiguousarray(field[:, 0].reshape(self.grid_h, self.grid_w))
        dy = np.ascontiguousarray(field[:, 1].reshape(self.grid_h, self.grid_w))
        bx, by = dx, dy
        inv = 1.0 / self.step
        for _ in range(self.iterations - 1):
            # p = x - d(p): re-sample the displacement where the previous guess points.
            map_x = self.base_x - bx * inv
            map_y = self.base_y - by * inv
            bx = cv2.remap(dx, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            by = cv2.remap(dy, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        size = (self.grid_w * self.step, self.grid_h * self.step)
        up_x = cv2.resize(bx, size, interpolation=cv2.INTER_LINEAR)[: self.height, : self.width]
        up_y = cv2.resize(by, size, interpolation=cv2.INTER_LINEAR)[: self.height, : self.width]
        return self.full_x - up_x, self.full_y - up_y
