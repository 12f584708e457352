"""Synthetic identities: children's (and adults') heads built from the two real face
photographs that installed packages ship (matplotlib's ``grace_hopper.jpg`` and
``skimage.data.astronaut()``).

Each identity morphs two of the four source faces (each photo and its mirror image) onto a
new landmark shape with child proportions (bigger eyes and cranium, shorter nose and lower
face, rounder cheeks), smooths the skin, recolours it, and paints cranium, ears, brows,
lashes, iris colour and one of several hair styles. Everything is drawn on a fixed head
canvas in which the eyes sit at known places; ``render`` moves and composites it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cv2 as _cv2
import numpy as np

from pedpain.data.phantom import landmarks as lm
from pedpain.data.phantom.warp import DisplacementWarp, piecewise_affine_map

# OpenCV's stubs reject the float32 canvases and tuple colours it accepts at run time.
cv2: Any = _cv2

#: Head canvas size and where the eye centres sit on it (IOD = inter-ocular distance).
CANVAS_W, CANVAS_H = 288, 320
EYE_Y = 140.0
EYE_XA, EYE_XB = 112.0, 176.0
IOD = EYE_XB - EYE_XA

HAIR_STYLES = ("short", "fringe", "long", "curly", "baby", "bob")
HAIR_COLOURS = {
    "black": (28, 22, 20),
    "dark_brown": (58, 38, 26),
    "brown": (96, 64, 38),
    "light_brown": (140, 102, 64),
    "blonde": (196, 160, 104),
    "red": (150, 72, 38),
}
EYE_COLOURS = {
    "dark_brown": (70, 40, 22),
    "brown": (110, 66, 32),
    "hazel": (122, 98, 52),
    "green": (84, 112, 70),
    "blue": (76, 116, 166),
    "grey": (110, 122, 130),
}


def _v(*xy: float) -> np.ndarray:
    """A 2-vector, for offsetting landmark positions."""
    return np.array(xy, dtype=np.float64)


@dataclass
class SourceFace:
    name: str
    image: np.ndarray  # canvas-aligned RGB float32 0..1
    mesh: np.ndarray  # (478, 3) in canvas pixels, mouth closed


@dataclass
class Identity:
    """A neutral head on the canvas and what rendering needs to animate it."""

    key: str
    adult: bool
    age_months: int
    sex: str
    rgba: np.ndarray  # (H, W, 4) uint8, neutral expression, straight head
    mesh: np.ndarray  # (478, 3) neutral landmarks on the canvas
    skin_rgb: tuple[int, int, int]
    lid_rgb: tuple[int, int, int]
    hair_colour: str
    hair_style: str
    eye_colour: str
    expressiveness: float  # how strongly this face shows pain (0.7-1.3)
    params: dict[str, float] = field(default_factory=dict)
    wrinkles: dict[str, np.ndarray] = field(default_factory=dict)  # AU -> darkening map
    #: The richer skin cues of the confounder-aware phantom (see :func:`_texture_maps`):
    #: ``dark_<AU>`` darkens (furrows, folds), ``light_<AU>`` lightens (bulges).
    textures: dict[str, np.ndarray] = field(default_factory=dict)
    bases: dict[str, np.ndarray] = field(default_factory=dict)  # AU -> (478, 2) at full
    _warp: DisplacementWarp | None = None

    @property
    def warp(self) -> DisplacementWarp:
        if self._warp is None:
            self._warp = DisplacementWarp(self.mesh, CANVAS_W, CANVAS_H)
        return self._warp

    def describe(self) -> dict[str, object]:
        return {
            "identity": self.key,
            "adult": self.adult,
            "hair_style": self.hair_style,
            "hair_colour": self.hair_colour,
            "eye_colour": self.eye_colour,
            "skin_rgb": list(self.skin_rgb),
            **{k: round(v, 4) for k, v in self.params.items()},
        }


def _load_sources() -> list[tuple[str, np.ndarray]]:
    import skimage.data
    from matplotlib import cbook
    from PIL import Image

    sample: Any = cbook.get_sample_data("grace_hopper.jpg")
    with sample as handle:
        hopper = np.array(Image.open(handle).convert("RGB"))
    astronaut = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    return [("hopper", hopper), ("astronaut", astronaut)]


def _close_mouth(mesh: np.ndarray, iod: float, smiling: bool) -> np.ndarray:
    """A neutral target shape: lips together (the astronaut smiles with teeth), corners
    relaxed, so expressions start from rest."""
    out = mesh.copy()
    upper = mesh[list(lm.LIPS_INNER_UPPER), 1]
    lower = mesh[list(lm.LIPS_INNER_LOWER), 1]
    gap = np.clip(lower - upper, 0, None)
    mouth_y = float(upper.mean())
    chin_y = float(mesh[lm.CHIN, 1])
    # Points below the mouth rise by the gap, fading to half of it at the chin.
    below = out[:, 1] > mouth_y
    frac = np.clip((out[:, 1] - mouth_y) / max(chin_y - mouth_y, 1.0), 0, 1)
    out[below, 1] -= float(gap.max()) * (1.0 - 0.5 * frac[below])
    for i, idx in enumerate(lm.LIPS_INNER_LOWER):
        out[idx, 1] = mesh[lm.LIPS_INNER_UPPER[i], 1] + 0.01 * iod
    if smiling:
        centre_x = float(mesh[list(lm.LIPS_OUTER_UPPER), 0].mean())
        for idx in (61, 291, 78, 308, 185, 409, 146, 375, 191, 415, 95, 324):
            out[idx, 1] += 0.05 * iod
            out[idx, 0] += np.sign(centre_x - mesh[idx, 0]) * 0.04 * iod
    return out


@lru_cache(maxsize=1)
def source_faces() -> tuple[SourceFace, ...]:
    """The four source faces (each photo and its mirror), aligned on the canvas, neutral."""
    faces = []
    for name, image in _load_sources():
        for flipped in (False, True):
            img = np.ascontiguousarray(image[:, ::-1]) if flipped else image
            mesh = lm.face_mesh(img)
            if mesh is None:  # pragma: no cover - the shipped photos always have a face
                raise RuntimeError(f"no face found in the {name} sample photo")
            a, b = lm.eye_centres(mesh)
            # Similarity transform taking the eye centres onto the canvas eye positions.
            scale = IOD / float(np.hypot(*(b - a)))
            angle = np.arctan2(b[1] - a[1], b[0] - a[0])
            cos, sin = scale * np.cos(-angle), scale * np.sin(-angle)
            matrix = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
            matrix[:, 2] = np.array([EYE_XA, EYE_Y]) - matrix[:, :2] @ a
            canvas = cv2.warpAffine(
                img,
                matrix,
                (CANVAS_W, CANVAS_H),
                flags=cv2.INTER_CUBIC,
                borderMode=cv2.BORDER_REPLICATE,
            )
            pts = mesh.copy()
            pts[:, :2] = mesh[:, :2] @ matrix[:, :2].T + matrix[:, 2]
            pts[:, 2] = mesh[:, 2] * scale
            neutral = _close_mouth(pts, IOD, smiling=name == "astronaut")
            # The output has its landmarks at ``neutral`` and samples the photo at ``pts``.
            mx, my = piecewise_affine_map(pts, neutral, CANVAS_W, CANVAS_H)
            closed = cv2.remap(canvas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            tag = f"{name}{'-mirror' if flipped else ''}"
            faces.append(SourceFace(tag, closed.astype(np.float32) / 255.0, neutral))
    return tuple(faces)


# ----------------------------------------------------------------------------- shape


def _soft_region(points: np.ndarray, centre: np.ndarray, r_in: float, r_out: float) -> np.ndarray:
    d = np.hypot(points[:, 0] - centre[0], points[:, 1] - centre[1])
    return np.clip((r_out - d) / max(r_out - r_in, 1e-6), 0.0, 1.0)


def child_shape(base: np.ndarray, k: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Give ``base`` child proportions (``k`` 0 = adult, 1 = infant) and random individual
    variation; returns the new landmarks and the parameters drawn."""
    p = base.copy()
    params = {
        "child_factor": k,
        "eye_size": 1.0 + 0.22 * k + rng.normal(0, 0.06),
        "eye_spacing": rng.normal(0, 0.05),
        "nose_length": 1.0 - 0.22 * k + rng.normal(0, 0.06),
        "nose_width": 1.0 - 0.08 * k + rng.normal(0, 0.08),
        "mouth_width": 1.0 - 0.12 * k + rng.normal(0, 0.07),
        "lip_thickness": 1.0 + rng.normal(0, 0.15),
        "lower_face": 1.0 - 0.2 * k + rng.normal(0, 0.05),
        "face_width": 1.0 + 0.06 * k + rng.normal(0, 0.05),
        "jaw_width": 1.0 + 0.05 * k + rng.normal(0, 0.07),
        "brow_height": rng.normal(0, 0.05),
    }
    u = IOD
    # Lower face first (relative to the nose tip), then the features inside it.
    nose_tip = p[lm.NOSE_TIP, :2].copy()
    below = p[:, 1] > nose_tip[1]
    p[below, 1] = nose_tip[1] + (p[below, 1] - nose_tip[1]) * params["lower_face"]
    # Face and jaw width: points far from the midline move out; the jaw below the mouth
    # more with jaw_width.
    cx = (EYE_XA + EYE_XB) / 2
    lateral = np.clip(np.abs(p[:, 0] - cx) / (1.1 * u), 0, 1)
    jaw = np.clip((p[:, 1] - EYE_Y) / (1.6 * u), 0, 1)
    wscale = 1 + (params["face_width"] - 1) * lateral + (params["jaw_width"] - 1) * lateral * jaw
    p[:, 0] = cx + (p[:, 0] - cx) * wscale
    # Eyes: scale each eye (contour, iris, lids) about its centre, with soft surroundings.
    for upper, lower, iris, sign in (
        (lm.EYE_A_UPPER, lm.EYE_A_LOWER, lm.IRIS_A, -1),
        (lm.EYE_B_UPPER, lm.EYE_B_LOWER, lm.IRIS_B, 1),
    ):
        idx = list(set(upper + lower + iris))
        centre = p[idx, :2].mean(axis=0)
        weight = _soft_region(p, centre, 0.32 * u, 0.6 * u)
        target = centre + (p[:, :2] - centre) * params["eye_size"]
        p[:, :2] += weight[:, None] * (target - p[:, :2])
        p[:, 0] += sign * weight * params["eye_spacing"] * u
    # Brows up or down.
    for brow in (lm.BROW_A, lm.BROW_B):
        centre = p[list(brow), :2].mean(axis=0)
        weight = _soft_region(p, centre, 0.3 * u, 0.55 * u)
        weight[p[:, 1] > EYE_Y - 0.12 * u] = 0
        p[:, 1] -= weight * params["brow_height"] * u
    # Nose: shorter from its root, narrower.
    root = p[lm.NOSE_ROOT, :2].copy()
    nose_w = _soft_region(p, p[lm.NOSE_TIP, :2], 0.35 * u, 0.6 * u)
    nose_w[p[:, 1] < root[1]] = 0
    target_y = root[1] + (p[:, 1] - root[1]) * params["nose_length"]
    target_x = root[0] + (p[:, 0] - root[0]) * params["nose_width"]
    p[:, 1] += nose_w * (target_y - p[:, 1])
    p[:, 0] += nose_w * (target_x - p[:, 0])
    # Shortening the nose lifts the mouth and chin with it.
    shift = (1 - params["nose_length"]) * (nose_tip[1] - root[1])
    lower_mask = p[:, 1] > p[lm.NOSE_TIP, 1] + 0.05 * u
    p[lower_mask, 1] -= shift * 0.9
    # Mouth width and lip thickness.
    lips = list(
        set(lm.LIPS_OUTER_UPPER + lm.LIPS_OUTER_LOWER + lm.LIPS_INNER_UPPER + lm.LIPS_INNER_LOWER)
    )
    mouth_c = p[lips, :2].mean(axis=0)
    mouth_w = _soft_region(p, mouth_c, 0.45 * u, 0.75 * u)
    tx = mouth_c[0] + (p[:, 0] - mouth_c[0]) * params["mouth_width"]
    ty = mouth_c[1] + (p[:, 1] - mouth_c[1]) * params["lip_thickness"]
    near_lips = _soft_region(p, mouth_c, 0.2 * u, 0.35 * u)
    p[:, 0] += mouth_w * (tx - p[:, 0])
    p[:, 1] += near_lips * (ty - p[:, 1])
    return p, params


# ----------------------------------------------------------------------------- paint


def _poly(mesh: np.ndarray, idx: tuple[int, ...] | list[int]) -> np.ndarray:
    return np.round(mesh[list(idx), :2]).astype(np.int32)


def _mask(shape: tuple[int, int], polys: list[np.ndarray], blur: float = 0.0) -> np.ndarray:
    m = np.zeros(shape, np.float32)
    cv2.fillPoly(m, polys, 1.0, lineType=cv2.LINE_AA)
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    return m


def _lab_to_rgb(lab: tuple[float, float, float]) -> np.ndarray:
    px = np.array([[lab]], np.float32)
    return cv2.cvtColor(px, cv2.COLOR_LAB2RGB)[0, 0].clip(0, 1)


def _eye_polys(mesh: np.ndarray) -> list[np.ndarray]:
    return [
        _poly(mesh, lm.EYE_A_UPPER + lm.EYE_A_LOWER[::-1]),
        _poly(mesh, lm.EYE_B_UPPER + lm.EYE_B_LOWER[::-1]),
    ]


def _hair_layers(
    mesh: np.ndarray,
    head: tuple[float, float, float, float],
    style: str,
    k: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha masks (back, front) of the hair on the canvas."""
    cx, cy, ax, ay = head
    h, w = CANVAS_H, CANVAS_W
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (xs - cx) / ax, (ys - cy) / ay
    r = np.sqrt(nx**2 + ny**2)
    brow_y = float(mesh[list(lm.BROW_A + lm.BROW_B), 1].min())
    top = cy - ay
    back = np.zeros((h, w), np.float32)
    # Hairline: a curve over the forehead that drops at the temples.
    if style == "fringe":
        line_y = brow_y - 0.12 * IOD + 3.0 * np.sin(xs / 5.0 + rng.uniform(0, 6))
    elif style == "baby":
        line_y = top + (0.35 + 0.1 * k) * (brow_y - top) + 0 * xs
    else:
        line_y = top + rng.uniform(0.45, 0.6) * (brow_y - top) + 0 * xs
    drop = np.clip(np.abs(nx), 0, 1) ** 3 * (EYE_Y - line_y + 0.2 * IOD)
    grow = 1.06 if style != "curly" else 1.14
    cap = ((r < grow) & (ys < line_y + drop)).astype(np.float32)
    if style == "curly":
        bumps = np.zeros_like(cap)
        for t in np.linspace(-np.pi, 0, 14):
            bx, by = cx + ax * 1.05 * np.cos(t), cy + ay * 1.05 * np.sin(t)
            cv2.circle(bumps, (int(bx), int(by)), int(0.28 * IOD), 1.0, -1, cv2.LINE_AA)
        cap = np.maximum(cap, bumps * (ys < EYE_Y + 0.2 * IOD))
    front = cap
    if style in ("long", "bob"):
        bottom = CANVAS_H if style == "long" else EYE_Y + 1.3 * IOD
        curtain = (np.abs(nx) > 0.86) & (np.abs(nx) < 1.2) & (ys > cy - 0.2 * ay)
        curtain &= ys < bottom
        front = np.maximum(front, curtain.astype(np.float32))
        behind = (np.abs(nx) < 1.2) & (np.abs(nx) > 0.5) & (ys > cy) & (ys < bottom)
        back = behind.astype(np.float32)
    front = cv2.GaussianBlur(front, (0, 0), 1.2)
    back = cv2.GaussianBlur(back, (0, 0), 1.2)
    if style == "baby":
        front *= 0.45
    return back, front


def _hair_texture(colour: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0, 1, (CANVAS_H, CANVAS_W)).astype(np.float32)
    streaks = cv2.GaussianBlur(noise, (0, 0), sigmaX=0.8, sigmaY=5.0)
    streaks /= streaks.std() + 1e-6
    base = np.array(colour, np.float32) / 255.0
    tex = base[None, None, :] * (1.0 + 0.22 * streaks[..., None])
    return tex.clip(0, 1)


def _wrinkle_maps(mesh: np.ndarray) -> dict[str, np.ndarray]:
    """Where each action unit darkens the skin (lines drawn at the neutral landmarks)."""
    u = IOD
    maps = {}

    def lines(
        segments: list[tuple[np.ndarray, np.ndarray]], width: float, blur: float
    ) -> np.ndarray:
        m = np.zeros((CANVAS_H, CANVAS_W), np.float32)
        for a, b in segments:
            cv2.line(
                m,
                (int(a[0]), int(a[1])),
                (int(b[0]), int(b[1])),
                1.0,
                max(1, int(width)),
                cv2.LINE_AA,
            )
        return cv2.GaussianBlur(m, (0, 0), blur)

    inner_a, inner_b = mesh[107, :2], mesh[336, :2]
    mid = (inner_a + inner_b) / 2
    maps["au4"] = 0.35 * lines(
        [
            (mid + _v(-0.08 * u, -0.05 * u), mid + _v(-0.06 * u, 0.22 * u)),
            (mid + _v(0.08 * u, -0.05 * u), mid + _v(0.06 * u, 0.22 * u)),
        ],
        2,
        1.2,
    )
    root, tip = mesh[lm.NOSE_ROOT, :2], mesh[lm.NOSE_TIP, :2]
    segs = []
    for t in (0.3, 0.42, 0.54):
        c = root + (tip - root) * t
        segs.append((c + _v(-0.12 * u, 0.02 * u), c + _v(0.12 * u, 0.02 * u)))
    maps["au9"] = 0.3 * lines(segs, 2, 1.0)
    segs = []
    for wing, corner, s in ((mesh[98, :2], mesh[61, :2], -1), (mesh[327, :2], mesh[291, :2], 1)):
        a = wing + _v(s * 0.06 * u, -0.02 * u)
        b = corner + _v(s * 0.1 * u, -0.02 * u)
        segs.append((a, (a + b) / 2 + _v(s * 0.03 * u, 0)))
        segs.append(((a + b) / 2 + _v(s * 0.03 * u, 0), b))
    maps["au10"] = 0.32 * lines(segs, 2, 1.6)
    segs = []
    for corner, s in ((mesh[33, :2], -1), (mesh[263, :2], 1)):
        for ang in (-0.35, 0.0, 0.35):
            d = np.array([s * np.cos(ang), np.sin(ang)]) * 0.2 * u
            start = corner + _v(s * 0.06 * u, 0)
            segs.append((start, start + d))
    for lower in (lm.EYE_A_LOWER, lm.EYE_B_LOWER):
        pts = mesh[list(lower), :2] + _v(0, 0.12 * u)
        segs.extend((pts[i], pts[i + 1]) for i in range(2, len(pts) - 3))
    maps["au6"] = 0.28 * lines(segs, 1.5, 1.0)
    return maps


def _texture_maps(mesh: np.ndarray, age_months: int, adult: bool) -> dict[str, np.ndarray]:
    """Skin cues of the facial actions, by age, at full intensity (rendering deepens them
    with intensity): vertical furrows between the brows and the brow bulge above them
    (AU4), the bulge under the eyes with the line below it and crow's feet (AU6/7), the
    nose-bridge wrinkles (AU9), the nasolabial fold (AU9/10, and AU12's smile fold).

    Infants' faces differ (the neonatal coding systems describe a brow *bulge* and a deep
    nasolabial *furrow* on plump skin): wide soft furrows, strong bulges, little crow's
    feet; older children and adults get thinner, sharper lines.
    """
    u = IOD
    young = 1.0 if adult else float(np.clip(1.0 - age_months / 120.0, 0.0, 1.0))
    soft = 1.0 + 1.2 * young  # blur grows for plump young skin
    sharp = 1.0 - 0.45 * young  # line darkness of thin creases

    def draw(
        segments: list[tuple[np.ndarray, np.ndarray]], width: float, blur: float
    ) -> np.ndarray:
        m = np.zeros((CANVAS_H, CANVAS_W), np.float32)
        for a, b in segments:
            cv2.line(m, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1.0,
                     max(1, round(width)), cv2.LINE_AA)  # fmt: skip
        return cv2.GaussianBlur(m, (0, 0), blur)

    def blob(centre: np.ndarray, axes: tuple[float, float], blur: float) -> np.ndarray:
        m = np.zeros((CANVAS_H, CANVAS_W), np.float32)
        cv2.ellipse(m, (int(centre[0]), int(centre[1])), (max(1, int(axes[0])),
                    max(1, int(axes[1]))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)  # fmt: skip
        return cv2.GaussianBlur(m, (0, 0), blur)

    maps: dict[str, np.ndarray] = {}
    inner_a, inner_b = mesh[107, :2], mesh[336, :2]
    mid = (inner_a + inner_b) / 2
    furrows = [
        (mid + _v(s * 0.07 * u, -0.08 * u), mid + _v(s * 0.05 * u, 0.2 * u)) for s in (-1, 1)
    ]
    if young < 0.5:  # a third, central furrow in older faces
        furrows.append((mid + _v(0, -0.04 * u), mid + _v(0, 0.14 * u)))
    maps["dark_au4"] = (0.55 * sharp + 0.2 * young) * draw(furrows, 2 + 2 * young, 0.9 * soft)
    maps["light_au4"] = 0.25 * (0.5 + young) * blob(mid + _v(0, -0.05 * u), (0.2 * u, 0.1 * u), 4)
    segs: list[tuple[np.ndarray, np.ndarray]] = []
    for lower in (lm.EYE_A_LOWER, lm.EYE_B_LOWER):
        pts = mesh[list(lower), :2] + _v(0, (0.3 + 0.04 * young) * u)
        segs.extend((pts[i], pts[i + 1]) for i in range(1, len(pts) - 2))
    crows = []
    for corner, s in ((mesh[33, :2], -1), (mesh[263, :2], 1)):
        for ang in (-0.4, 0.0, 0.4):
            d = np.array([s * np.cos(ang), np.sin(ang)]) * 0.22 * u
            start = corner + _v(s * 0.07 * u, 0)
            crows.append((start, start + d))
    maps["dark_au6"] = 0.3 * draw(segs, 2, 1.0 * soft) + 0.4 * sharp * (1 - young) * draw(
        crows, 1.5, 0.8
    )
    bulge = np.zeros((CANVAS_H, CANVAS_W), np.float32)
    for lower in (lm.EYE_A_LOWER, lm.EYE_B_LOWER):
        c = mesh[list(lower), :2].mean(axis=0) + _v(0, 0.12 * u)
        bulge += blob(c, (0.26 * u, 0.06 * u), 2.5)
    maps["light_au6"] = (0.22 + 0.1 * young) * bulge
    root, tip = mesh[lm.NOSE_ROOT, :2], mesh[lm.NOSE_TIP, :2]
    segs = []
    for t in (0.22, 0.32, 0.42, 0.52):
        c = root + (tip - root) * t
        segs.append((c + _v(-0.14 * u, 0.02 * u), c + _v(0.14 * u, -0.01 * u)))
    maps["dark_au9"] = 0.5 * sharp * draw(segs, 2, 0.9 * soft)
    folds = []
    for wing, corner, s in ((mesh[98, :2], mesh[61, :2], -1), (mesh[327, :2], mesh[291, :2], 1)):
        a = wing + _v(s * 0.07 * u, -0.03 * u)
        b = corner + _v(s * 0.12 * u, 0.02 * u)
        bend = (a + b) / 2 + _v(s * 0.05 * u, 0)
        folds += [(a, bend), (bend, b)]
    fold = draw(folds, 2 + 2 * young, 1.3 * soft)
    maps["dark_au10"] = (0.5 + 0.25 * young) * fold
    maps["dark_au12"] = (0.35 + 0.15 * young) * fold
    # The box holding every cue (rendering touches only it): y0, y1, x0, x1.
    ys, xs = np.nonzero(np.max(np.stack(list(maps.values())), axis=0) > 1e-3)
    maps["roi"] = np.array([ys.min(), ys.max() + 1, xs.min(), xs.max() + 1], np.int64)
    return maps


# ----------------------------------------------------------------------------- identity


def make_identity(
    seed: int, age_months: int = 60, sex: str = "F", adult: bool = False, key: str | None = None
) -> Identity:
    """One synthetic identity, fully determined by ``seed`` (and age, sex, adult)."""
    from pedpain.data.phantom.expression import action_bases

    rng = np.random.default_rng([seed, 4711])
    sources = source_faces()
    ia, ib = rng.choice(len(sources), size=2, replace=False)
    mix = float(rng.uniform(0.25, 0.75))
    sa, sb = sources[int(ia)], sources[int(ib)]
    base = mix * sa.mesh + (1 - mix) * sb.mesh
    k = 0.0 if adult else float(np.clip(1.0 - age_months / 200.0, 0.15, 1.0))
    shape, params = child_shape(base, k, rng)
    tex = np.zeros((CANVAS_H, CANVAS_W, 3), np.float32)
    for src, weight in ((sa, mix), (sb, 1 - mix)):
        mx, my = piecewise_affine_map(src.mesh, shape, CANVAS_W, CANVAS_H)
        tex += weight * cv2.remap(
            src.image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    hw = (CANVAS_H, CANVAS_W)

    # Smooth skin (no wrinkles, glasses or ageing) but keep eyes, nostrils and lips sharp.
    eyes = _eye_polys(shape)
    feature = _mask(hw, eyes, 0)
    feature = cv2.dilate(feature, np.ones((9, 9), np.uint8))
    lips = _poly(shape, lm.LIPS_OUTER_UPPER + lm.LIPS_OUTER_LOWER[::-1][1:-1])
    nose = cv2.convexHull(_poly(shape, lm.NOSE_WINGS))
    feature = np.maximum(feature, _mask(hw, [lips, nose], 0))
    feature = cv2.GaussianBlur(feature, (0, 0), 2.5)[..., None]
    smooth = cv2.GaussianBlur(tex, (0, 0), 5.0)
    tex = feature * tex + (1 - feature) * smooth

    # Skin tone: move the face's mean colour (in Lab) to the identity's.
    tone = float(rng.uniform(0, 1))
    target = (
        30.0 + 50.0 * tone + (6.0 if adult else 4.0),
        17.0 - 6.0 * tone + rng.normal(0, 2),
        24.0 - 9.0 * tone + rng.normal(0, 2),
    )
    oval = _mask(hw, [_poly(shape, lm.FACE_OVAL)], 0)
    skin_only = (oval > 0.5) & (feature[..., 0] < 0.2)
    lab = cv2.cvtColor(tex, cv2.COLOR_RGB2LAB)
    mean = lab[skin_only].mean(axis=0)
    new = lab.copy()
    new[..., 0] = (lab[..., 0] - mean[0]) * 0.85 + target[0]
    new[..., 1] = (lab[..., 1] - mean[1]) * 0.7 + target[1]
    new[..., 2] = (lab[..., 2] - mean[2]) * 0.7 + target[2]
    toned = cv2.cvtColor(new, cv2.COLOR_LAB2RGB).clip(0, 1)
    whites = _mask(hw, eyes, 1.0)[..., None]
    tex = whites * tex + (1 - whites) * toned
    skin = _lab_to_rgb(target)

    # Iris colour.
    eye_colour = str(rng.choice(list(EYE_COLOURS)))
    iris_rgb = np.array(EYE_COLOURS[eye_colour], np.float32) / 255.0
    iris_mask = np.zeros(hw, np.float32)
    for iris in (lm.IRIS_A, lm.IRIS_B):
        c = shape[iris[0], :2]
        rad = float(np.mean(np.hypot(*(shape[list(iris[1:]), :2] - c).T)))
        cv2.circle(iris_mask, (int(np.rint(c[0])), int(np.rint(c[1]))), max(2, int(rad)), 1.0, -1)
    iris_mask = cv2.GaussianBlur(iris_mask * _mask(hw, eyes, 0), (0, 0), 0.8)[..., None]
    lum = tex.mean(axis=2, keepdims=True)
    tex = iris_mask * (lum * 2.2 * iris_rgb).clip(0, 1) + (1 - iris_mask) * tex

    # The head: cranium (bigger for younger children), ears, then the face on top.
    oval_pts = shape[list(lm.FACE_OVAL), :2]
    cx = float(oval_pts[:, 0].mean())
    half_w = float(oval_pts[:, 0].max() - oval_pts[:, 0].min()) / 2 * (1.02 + 0.05 * k)
    top = EYE_Y - (1.25 + 0.5 * k + rng.normal(0, 0.05)) * IOD
    bottom = float(oval_pts[:, 1].max()) - 0.35 * IOD
    head = (cx, (top + bottom) / 2, half_w, (bottom - top) / 2)
    ys, xs = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    rr = ((xs - head[0]) / head[2]) ** 2 + ((ys - head[1]) / head[3]) ** 2
    cranium = np.clip((1.0 - rr) * 20.0, 0, 1)
    shade = (1.0 - 0.22 * np.clip(rr, 0, 1) ** 2)[..., None]
    ear_mask = np.zeros(hw, np.float32)
    for s in (-1, 1):
        ex = cx + s * half_w * 0.98
        cv2.ellipse(
            ear_mask,
            (int(ex), int(EYE_Y + 0.35 * IOD)),
            (int(0.17 * IOD), int(0.34 * IOD)),
            0,
            0,
            360,
            1.0,
            -1,
            cv2.LINE_AA,
        )
    face_alpha = cv2.GaussianBlur(cv2.erode(oval, np.ones((5, 5), np.uint8)), (0, 0), 4.0)
    rgb = np.zeros((CANVAS_H, CANVAS_W, 3), np.float32)
    alpha = np.zeros(hw, np.float32)

    hair_style = str(rng.choice(HAIR_STYLES if not adult else ("short", "long", "bob", "curly")))
    if not adult and age_months < 12:
        hair_style = "baby" if rng.uniform() < 0.7 else hair_style
    hair_colour = str(rng.choice(list(HAIR_COLOURS)))
    hair_rgb = _hair_texture(HAIR_COLOURS[hair_colour], rng)
    back, front = _hair_layers(shape, head, hair_style, k, rng)

    def over(layer_rgb: np.ndarray, layer_a: np.ndarray) -> None:
        nonlocal rgb, alpha
        a = layer_a[..., None]
        rgb = layer_rgb * a + rgb * (1 - a)
        alpha = (layer_a + alpha * (1 - layer_a)).astype(np.float32)

    over(hair_rgb * 0.8, back)
    over(np.broadcast_to(skin * 0.9, rgb.shape) * 1.0, ear_mask)
    over(np.broadcast_to(skin, rgb.shape) * shade, cranium)
    over(tex, face_alpha)

    # Brows and lashes drawn over the skin.
    brow_dark = np.array(HAIR_COLOURS[hair_colour], np.float32) / 255.0 * 0.8
    brow_alpha = float(rng.uniform(0.45, 0.85)) * (0.6 if k > 0.85 else 1.0)
    brows = _mask(hw, [_poly(shape, lm.BROW_A_POLY), _poly(shape, lm.BROW_B_POLY)], 1.0)
    over(np.broadcast_to(brow_dark, rgb.shape), brows * brow_alpha)
    lash = np.zeros(hw, np.float32)
    for upper in (lm.EYE_A_UPPER, lm.EYE_B_UPPER):
        cv2.polylines(lash, [_poly(shape, upper)], False, 1.0, 2, cv2.LINE_AA)
    over(np.broadcast_to(np.array([0.08, 0.06, 0.05], np.float32), rgb.shape), lash * 0.8)
    over(hair_rgb, front)

    lid_rgb = skin * 0.92
    rgba = np.dstack([rgb.clip(0, 1), alpha.clip(0, 1)])
    identity = Identity(
        key=key or f"id{seed}",
        adult=adult,
        age_months=age_months,
        sex=sex,
        rgba=np.round(rgba * 255).astype(np.uint8),
        mesh=shape,
        skin_rgb=tuple(int(v) for v in np.round(skin * 255)),  # type: ignore[arg-type]
        lid_rgb=tuple(int(v) for v in np.round(lid_rgb * 255)),  # type: ignore[arg-type]
        hair_colour=hair_colour,
        hair_style=hair_style,
        eye_colour=eye_colour,
        expressiveness=float(rng.uniform(0.75, 1.25)),
        params={**params, "morph": mix, "skin_tone": tone},
        wrinkles=_wrinkle_maps(shape),
        textures=_texture_maps(shape, age_months, adult),
    )
    identity.params["sources"] = float(ia * 10 + ib)
    identity.bases = action_bases(shape)
    return identity
