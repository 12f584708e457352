"""Rendering one frame: the identity's head with its expression, posed in a ward scene,
with the occluders a ward has and the nuisances a phone camera adds.

A :class:`Look` holds what stays fixed for a session (scene, lighting, which occluders the
child has); :func:`render_frame` takes the per-frame action units, :class:`Pose`,
:class:`Camera` and :class:`Props` and returns the RGB image and a truth record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import cv2 as _cv2
import numpy as np

from pedpain.data.phantom import landmarks as lm
from pedpain.data.phantom.expression import ActionUnits, displacement
from pedpain.data.phantom.identities import CANVAS_H, CANVAS_W, EYE_Y, IOD, Identity

# OpenCV's stubs reject the float32 canvases and tuple colours it accepts at run time.
cv2: Any = _cv2

STAMP = "SYNTHETIC - pedpain phantom"


def _v(*xy: float) -> np.ndarray:
    """A 2-vector, for offsetting landmark positions."""
    return np.array(xy, dtype=np.float64)


@dataclass
class Pose:
    roll: float = 0.0  # degrees, positive = clockwise on screen
    yaw: float = 0.0
    pitch: float = 0.0
    iod: float = 70.0  # inter-ocular distance on the output, pixels
    x: float = 0.5  # eye midpoint as a fraction of the frame width / height
    y: float = 0.42


@dataclass
class Camera:
    gain: float = 1.0
    gamma: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    blur: float = 0.0  # Gaussian sigma in output pixels
    noise: float = 2.0  # sensor noise sigma in grey levels
    jpeg_quality: int = 92


@dataclass
class Props:
    pacifier: bool = False
    cannula: bool = False
    ng_tube: int = 0  # 0 none, -1 / +1 nostril side
    hand: tuple[float, float, float, float] | None = None  # dx, dy (IOD units), angle, size
    second_face: tuple[float, float, float] | None = None  # x, y (fractions), iod ratio


@dataclass
class Look:
    """A session's fixed appearance."""

    identity: Identity
    width: int
    height: int
    background: np.ndarray  # (H, W, 3) uint8 scene with the body
    head: np.ndarray  # identity RGBA with this session's lighting
    props: Props
    pacifier_rgb: tuple[int, int, int] = (150, 200, 235)
    adult: Identity | None = None
    extras: dict[str, object] = field(default_factory=dict)
    #: Skin cues from ``Identity.textures`` (furrows, folds, bulges by age and intensity);
    #: False keeps the older, lighter shading (the benchmark's baseline path).
    detailed: bool = True


# ----------------------------------------------------------------------------- scene


def _scene(
    width: int, height: int, rng: np.random.Generator, identity: Identity, pose: Pose
) -> np.ndarray:
    """A bed, pillow and wall, and the child's neck and gown, at low cost."""
    wall = np.array(
        rng.choice([(214, 222, 226), (226, 220, 204), (200, 214, 208), (232, 232, 236)])
    )
    pillow = np.array(rng.choice([(240, 242, 246), (226, 236, 246), (246, 240, 230)]))
    gown = np.array(
        rng.choice([(140, 180, 210), (170, 200, 170), (220, 190, 200), (200, 200, 210)])
    )
    img = np.empty((height, width, 3), np.float32)
    grad = np.linspace(0.85, 1.08, height, dtype=np.float32)[:, None, None]
    img[:] = wall[None, None, :] * grad
    s = pose.iod / IOD
    cx, cy = pose.x * width, pose.y * height
    # Pillow behind the head.
    cv2.ellipse(
        img,
        (int(cx + rng.normal(0, 0.3) * pose.iod), int(cy + 0.3 * pose.iod)),
        (int(3.2 * pose.iod), int(2.2 * pose.iod)),
        float(rng.uniform(-10, 10)),
        0,
        360,
        tuple(float(v) for v in pillow),
        -1,
        cv2.LINE_AA,
    )
    if rng.uniform() < 0.5:  # a monitor or cupboard edge in the corner
        x0 = int(rng.choice([0.02, 0.78]) * width)
        cv2.rectangle(
            img, (x0, int(0.05 * height)), (x0 + width // 5, int(0.3 * height)), (60, 64, 70), -1
        )
    # Neck and gown under the head.
    skin = np.array(identity.skin_rgb, np.float32) * 0.85
    chin_y = cy + s * (identity.mesh[lm.CHIN, 1] - EYE_Y)
    neck_w = 0.55 * pose.iod
    cv2.rectangle(
        img,
        (int(cx - neck_w), int(chin_y - 0.6 * pose.iod)),
        (int(cx + neck_w), int(chin_y + 0.9 * pose.iod)),
        tuple(float(v) for v in skin),
        -1,
    )
    shoulders = np.array(
        [
            [cx - 2.6 * pose.iod, height + 10],
            [cx - 2.2 * pose.iod, chin_y + 0.9 * pose.iod],
            [cx - 0.5 * pose.iod, chin_y + 0.6 * pose.iod],
            [cx, chin_y + 1.0 * pose.iod],
            [cx + 0.5 * pose.iod, chin_y + 0.6 * pose.iod],
            [cx + 2.2 * pose.iod, chin_y + 0.9 * pose.iod],
            [cx + 2.6 * pose.iod, height + 10],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [shoulders], tuple(float(v) for v in gown), cv2.LINE_AA)
    # A blanket edge across the bottom.
    blanket = np.array(rng.choice([(236, 236, 236), (190, 214, 236), (246, 220, 180)]))
    cv2.rectangle(
        img,
        (0, int(min(height - 1, chin_y + 2.2 * pose.iod))),
        (width, height),
        tuple(float(v) for v in blanket),
        -1,
    )
    return np.clip(img, 0, 255).astype(np.uint8)


def make_look(
    identity: Identity,
    width: int,
    height: int,
    rng: np.random.Generator,
    pose: Pose,
    props: Props,
    adult: Identity | None = None,
    detailed: bool = True,
) -> Look:
    angle = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.0, 0.35)
    ys, xs = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    light = 1.0 + strength * (
        ((xs - CANVAS_W / 2) * np.cos(angle) + (ys - EYE_Y) * np.sin(angle)) / (2.0 * IOD)
    )
    head = identity.rgba.copy()
    head[..., :3] = np.clip(head[..., :3] * light[..., None], 0, 255).astype(np.uint8)
    return Look(
        identity=identity,
        width=width,
        height=height,
        background=_scene(width, height, rng, identity, pose),
        head=head,
        props=props,
        pacifier_rgb=tuple(  # type: ignore[arg-type]
            int(v) for v in rng.choice([(150, 200, 235), (240, 170, 200), (170, 220, 170)])
        ),
        adult=adult,
        extras={"light_angle": float(angle), "light_strength": float(strength)},
        detailed=detailed,
    )


# ----------------------------------------------------------------------------- head


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(np.rint(float(p[0]))), int(np.rint(float(p[1])))


def render_head(
    look: Look, actions: ActionUnits, yaw: float = 0.0, pitch: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The head canvas (RGBA uint8) with expression and turn, and its landmarks."""
    ident = look.identity
    tex = look.head
    if look.detailed and ident.textures:
        tex = _skin_cues(tex, ident.textures, actions)
    else:
        shade = (
            ident.wrinkles["au4"] * (actions.au4 / 5)
            + ident.wrinkles["au9"] * (actions.au9 / 5)
            + ident.wrinkles["au10"] * (actions.au10 / 5)
            + ident.wrinkles["au6"] * (max(actions.au6, actions.au7) / 5)
        )
        if float(shade.max()) > 0.004:
            dark = (shade * 255).astype(np.uint8)
            dark4 = cv2.merge([dark, dark, dark, np.zeros_like(dark)])
            tex = cv2.subtract(tex, cv2.multiply(tex, dark4, scale=1 / 255))
    delta = displacement(ident.bases, actions, yaw, pitch)
    mesh = ident.mesh.copy()
    mesh[:, :2] += delta
    # Never let an upper lid cross its lower lid.
    for upper, lower in ((lm.EYE_A_UPPER, lm.EYE_A_LOWER), (lm.EYE_B_UPPER, lm.EYE_B_LOWER)):
        lx, ly = mesh[list(lower), 0], mesh[list(lower), 1]
        order = np.argsort(lx)
        floor = np.interp(mesh[list(upper), 0], lx[order], ly[order]) - 0.01 * IOD
        ups = list(upper)
        mesh[ups, 1] = np.minimum(mesh[ups, 1], floor)
    delta = mesh[:, :2] - ident.mesh[:, :2]
    mx, my = ident.warp.maps(delta)
    out = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    u = IOD
    # Crying mouth: the cavity between the inner lips.
    opening = float(mesh[14, 1] - mesh[13, 1])
    if opening > 0.04 * u:
        cavity = np.round(
            mesh[list(lm.LIPS_INNER_UPPER + lm.LIPS_INNER_LOWER[::-1][1:-1]), :2]
        ).astype(np.int32)
        cv2.fillPoly(out, [cavity], (70, 24, 30, 255), cv2.LINE_AA)
        if ident.age_months >= 10 and opening > 0.12 * u:
            top = mesh[list(lm.LIPS_INNER_UPPER[2:-2]), :2]
            teeth = np.concatenate([top, top[::-1] + _v(0, min(0.09 * u, opening * 0.3))])
            cv2.fillPoly(out, [np.round(teeth).astype(np.int32)], (232, 226, 214, 255), cv2.LINE_AA)
        tongue_c = (mesh[14, :2] + mesh[13, :2]) / 2 + _v(0, opening * 0.25)
        cv2.ellipse(
            out,
            _pt(tongue_c),
            (max(1, int(0.2 * u)), max(1, int(opening * 0.22))),
            0,
            0,
            360,
            (170, 70, 80, 255),
            -1,
            cv2.LINE_AA,
        )
    # Closed eyes: paint the lid over what is left of the aperture, lashes on the seam.
    if actions.au43 > 0.45:
        strength = float(np.clip((actions.au43 - 0.45) / 0.35, 0, 1))
        lid = (*tuple(int(v) for v in ident.lid_rgb), 255)
        painted = out.copy()
        for upper, lower in ((lm.EYE_A_UPPER, lm.EYE_A_LOWER), (lm.EYE_B_UPPER, lm.EYE_B_LOWER)):
            poly = np.round(mesh[list(upper + lower[::-1]), :2]).astype(np.int32)
            cv2.fillPoly(painted, [poly], lid, cv2.LINE_AA)
            cv2.polylines(
                painted,
                [np.round(mesh[list(lower), :2]).astype(np.int32)],
                False,
                (40, 30, 28, 255),
                2,
                cv2.LINE_AA,
            )
        out = cv2.addWeighted(painted, strength, out, 1 - strength, 0)
    _draw_props(out, mesh, look)
    return out, mesh


def _skin_cues(tex: np.ndarray, maps: dict[str, np.ndarray], actions: ActionUnits) -> np.ndarray:
    """Darken furrows and folds, lighten bulges, each by its action's intensity. The
    power below 1 makes a cue visible from a weak action and deepen as it grows. Only
    the box holding the cues (``maps["roi"]``) is touched."""
    orbit = max(actions.au6, actions.au7) / 5
    weights = {
        "dark_au4": actions.au4 / 5,
        "light_au4": actions.au4 / 5,
        "dark_au6": orbit,
        "light_au6": max(orbit, 0.6 * actions.au12 / 5),
        "dark_au9": actions.au9 / 5,
        "dark_au10": max(actions.au10, 0.6 * actions.au9) / 5,
        "dark_au12": actions.au12 / 5,
    }
    y0, y1, x0, x1 = (int(v) for v in maps["roi"])
    dark: np.ndarray | None = None
    light: np.ndarray | None = None
    for name, w in weights.items():
        if w <= 0.02 or name not in maps:
            continue
        layer = maps[name][y0:y1, x0:x1]
        gain = float(min(w, 1.0) ** 0.75)
        if name.startswith("dark"):
            dark = layer * gain if dark is None else cv2.scaleAdd(layer, gain, dark)
        else:
            light = layer * gain if light is None else cv2.scaleAdd(layer, gain, light)
    if dark is None and light is None:
        return tex
    out = tex.copy()
    sub = out[y0:y1, x0:x1]
    zero = np.zeros(sub.shape[:2], np.uint8)
    if dark is not None:
        d = (np.minimum(dark, 1.0) * 255).astype(np.uint8)
        sub = cv2.subtract(sub, cv2.multiply(sub, cv2.merge([d, d, d, zero]), scale=1 / 255))
    if light is not None:
        g = (np.minimum(light, 1.0) * 255).astype(np.uint8)
        room = cv2.subtract(np.full_like(sub, 255), sub)
        sub = cv2.add(sub, cv2.multiply(room, cv2.merge([g, g, g, zero]), scale=1 / 255))
    out[y0:y1, x0:x1] = sub
    return out


def _draw_props(out: np.ndarray, mesh: np.ndarray, look: Look) -> None:
    props, u = look.props, IOD
    if props.cannula:
        tube = (205, 232, 215, 255)
        edge = (150, 180, 160, 255)
        for wing, side in ((98, -1), (327, 1)):
            start = mesh[wing, :2] + _v(0, 0.04 * u)
            cheek = mesh[wing, :2] + _v(side * 0.55 * u, 0.08 * u)
            ear = mesh[234 if side < 0 else 454, :2] + _v(side * 0.15 * u, 0.1 * u)
            down = ear + _v(side * 0.05 * u, 1.2 * u)
            pts = np.round(np.array([start, cheek, ear, down])).astype(np.int32)
            cv2.polylines(out, [pts], False, edge, max(2, int(0.09 * u)), cv2.LINE_AA)
            cv2.polylines(out, [pts], False, tube, max(1, int(0.05 * u)), cv2.LINE_AA)
    if props.ng_tube:
        wing = 98 if props.ng_tube < 0 else 327
        s = float(props.ng_tube)
        start = mesh[wing, :2] + _v(0, 0.03 * u)
        tape_c = start + _v(s * 0.35 * u, 0.25 * u)
        end = tape_c + _v(s * 0.5 * u, 1.3 * u)
        pts = np.round(np.array([start, tape_c, end])).astype(np.int32)
        cv2.polylines(out, [pts], False, (200, 180, 110, 255), max(2, int(0.07 * u)), cv2.LINE_AA)
        box = cv2.boxPoints(((float(tape_c[0]), float(tape_c[1])), (0.4 * u, 0.26 * u), 15 * s))
        cv2.fillPoly(out, [np.round(box).astype(np.int32)], (238, 232, 220, 255), cv2.LINE_AA)
    if props.pacifier:
        centre = (mesh[13, :2] + mesh[14, :2]) / 2
        col = (*look.pacifier_rgb, 255)
        cv2.ellipse(out, _pt(centre), (int(0.5 * u), int(0.3 * u)), 0, 0, 360, col, -1, cv2.LINE_AA)
        cv2.circle(
            out, _pt(centre + _v(0, 0.02 * u)), int(0.17 * u), (245, 245, 245, 255), 3, cv2.LINE_AA
        )


# ----------------------------------------------------------------------------- frame


def _affine(pose: Pose, ident: Identity, width: int, height: int) -> np.ndarray:
    """Canvas -> frame: turn squash, roll about the neck, scale, place."""
    s = pose.iod / IOD
    pivot = np.array([(CANVAS_W / 2), float(ident.mesh[lm.CHIN, 1]) + 0.1 * IOD])
    eye_mid = np.array([CANVAS_W / 2, EYE_Y])
    squash = np.diag([s * np.cos(np.radians(pose.yaw)), s * np.cos(np.radians(pose.pitch))])
    t = np.radians(pose.roll)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    lin = rot @ squash
    target_pivot = np.array([pose.x * width, pose.y * height]) + s * (pivot - eye_mid)
    offset = target_pivot - lin @ pivot
    return np.hstack([lin, offset[:, None]])


def _composite(frame: np.ndarray, rgba: np.ndarray, matrix: np.ndarray) -> None:
    h, w = rgba.shape[:2]
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ matrix[:, :2].T
    corners += matrix[:, 2]
    x0 = max(0, int(np.floor(corners[:, 0].min())))
    y0 = max(0, int(np.floor(corners[:, 1].min())))
    x1 = min(frame.shape[1], int(np.ceil(corners[:, 0].max())) + 1)
    y1 = min(frame.shape[0], int(np.ceil(corners[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    m = matrix.copy()
    m[:, 2] -= [x0, y0]
    warped = cv2.warpAffine(
        rgba, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    r, g, b, a = cv2.split(warped)
    alpha = a.astype(np.float32) * (1.0 / 255.0)
    rgb = cv2.merge([r, g, b])
    roi = np.ascontiguousarray(frame[y0:y1, x0:x1])
    frame[y0:y1, x0:x1] = cv2.blendLinear(rgb, roi, alpha, 1.0 - alpha)


def _draw_hand(
    frame: np.ndarray, centre: np.ndarray, angle: float, size: float, skin: tuple[int, int, int]
) -> None:
    dark = tuple(float(v) * 0.78 for v in skin)
    light = tuple(float(v) for v in skin)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    palm_axes = (int(0.55 * size), int(0.45 * size))
    fingers = []
    for k, spread in enumerate((-0.5, -0.17, 0.17, 0.5)):
        base = np.array([spread * 0.8 * size, -0.3 * size])
        length = size * (0.75 if k in (1, 2) else 0.62)
        tip = base + _v(spread * 0.25 * size, -length)
        fingers.append((centre + rot @ base, centre + rot @ tip))
    width = max(2, int(0.26 * size))
    for colour, grow in ((dark, 3), (light, 0)):
        cv2.ellipse(
            frame,
            _pt(centre),
            (palm_axes[0] + grow, palm_axes[1] + grow),
            float(np.degrees(angle)),
            0,
            360,
            colour,
            -1,
            cv2.LINE_AA,
        )
        for a, b in fingers:
            cv2.line(frame, _pt(a), _pt(b), colour, width + grow, cv2.LINE_AA)


NOISE_TILE = 768


@lru_cache(maxsize=16)
def _noise_bank(level: int) -> np.ndarray:
    """A tile of Gaussian sensor noise at an integer sigma, reused with random offsets."""
    rng = np.random.default_rng(20240601 + level)
    size = NOISE_TILE + 32
    return np.round(rng.normal(0, level, (size, size, 3))).astype(np.int16)


def add_noise(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    level = int(np.rint(sigma))
    if level < 1:
        return frame
    bank = _noise_bank(min(level, 8))
    h, w = frame.shape[:2]
    out = np.empty_like(frame)
    for y in range(0, h, NOISE_TILE):
        for x in range(0, w, NOISE_TILE):
            th, tw = min(NOISE_TILE, h - y), min(NOISE_TILE, w - x)
            dy, dx = (int(v) for v in rng.integers(0, 32, 2))
            out[y : y + th, x : x + tw] = cv2.add(
                np.ascontiguousarray(frame[y : y + th, x : x + tw]),
                bank[dy : dy + th, dx : dx + tw],
                dtype=cv2.CV_8U,
            )
    return out


def apply_lut(frame: np.ndarray, cam: Camera) -> np.ndarray:
    """Exposure, gamma and white balance as one lookup table."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    lut = np.stack(
        [np.clip(255.0 * (levels**cam.gamma) * cam.gain * wb, 0, 255) for wb in cam.white_balance],
        axis=1,
    ).astype(np.uint8)
    return cv2.LUT(frame, lut[None, :, :])


def stamp(frame: np.ndarray) -> None:
    """Say on the picture itself that it is synthetic (bottom-left corner, small)."""
    h = frame.shape[0]
    scale = max(0.3, h / 1600)
    cv2.putText(
        frame,
        STAMP,
        (int(0.01 * frame.shape[1]) + 2, h - int(0.012 * h) - 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (128, 128, 128),
        max(1, int(scale * 1.5)),
        cv2.LINE_AA,
    )


def face_box(mesh: np.ndarray) -> tuple[float, float, float, float]:
    oval = mesh[list(lm.FACE_OVAL), :2]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def render_frame(
    look: Look,
    actions: ActionUnits,
    pose: Pose,
    camera: Camera,
    rng: np.random.Generator,
    hand: bool = True,
    second_face: bool = True,
    output_size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """One RGB frame and its truth (pose, occluders, face box and visibility, landmarks).

    ``output_size`` (width, height), larger than the look's, renders at the look's size
    and upsamples before the sensor noise (how 20-megapixel photos stay affordable).
    """
    frame = look.background.copy()
    head, mesh = render_head(look, actions, pose.yaw, pose.pitch)
    matrix = _affine(pose, look.identity, look.width, look.height)
    _composite(frame, head, matrix)
    out_mesh = mesh.copy()
    out_mesh[:, :2] = mesh[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    props = look.props
    if second_face and props.second_face is not None and look.adult is not None:
        x, y, ratio = props.second_face
        adult_pose = Pose(roll=0.0, iod=pose.iod * ratio, x=x, y=y)
        _composite(frame, look.adult.rgba, _affine(adult_pose, look.adult, look.width, look.height))
    if hand and props.hand is not None:
        dx, dy, angle, size = props.hand
        anchor = out_mesh[lm.NOSE_TIP, :2] + np.array([dx, dy]) * pose.iod
        _draw_hand(frame, anchor, angle, size * pose.iod, look.identity.skin_rgb)
    if camera.blur > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), camera.blur)
    frame = apply_lut(frame, camera)
    width, height = look.width, look.height
    if output_size is not None and output_size != (width, height):
        factor = output_size[0] / width
        frame = cv2.resize(frame, output_size, interpolation=cv2.INTER_LINEAR)
        out_mesh = out_mesh * factor
        width, height = output_size
    frame = add_noise(frame, camera.noise, rng)
    stamp(frame)
    x, y, w, h = face_box(out_mesh)
    inside = (
        max(0.0, min(x + w, width) - max(x, 0)) * max(0.0, min(y + h, height) - max(y, 0))
    ) / max(w * h, 1.0)
    truth: dict[str, object] = {
        **{f"pose_{k}": round(float(v), 3) for k, v in asdict(pose).items()},
        **{
            "blur": round(camera.blur, 3),
            "noise": round(camera.noise, 3),
            "gain": round(camera.gain, 3),
            "jpeg_quality": camera.jpeg_quality,
            "pacifier": int(props.pacifier),
            "cannula": int(props.cannula),
            "ng_tube": int(props.ng_tube != 0),
            "hand": int(hand and props.hand is not None),
            "second_face": int(second_face and props.second_face is not None),
            "face_x": round(x, 1),
            "face_y": round(y, 1),
            "face_w": round(w, 1),
            "face_h": round(h, 1),
            "face_inside": round(float(inside), 3),
        },
    }
    truth["_mesh"] = out_mesh
    return frame, truth
