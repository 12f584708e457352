"""Why a score: facial measures in the protocol's terms, and a Grad-CAM heat map.

Geometric measures come from the face-mesh landmarks of each scored face, divided by the
inter-ocular distance (IOD) so that they do not depend on the face's size in the picture:

- ``brow_eye``   brow-to-upper-lid distance; it shrinks when the brows lower (AU4);
- ``eye_aperture`` lid gap over eye width; it shrinks with orbit tightening (AU6/7);
- ``nose_lip``   nose base to upper lip; it shrinks with nose wrinkle / lip raise (AU9/10);
- ``eyes_closed`` share of faces with an aperture under ``EYE_CLOSED`` (AU43);
- ``mouth_open`` inner-lip gap (AU25-27).

With neutral frames of the same child (a baseline) each measure is also given relative to
them: positive ``*_change`` values mean "more like pain" (brows lower, eyes narrower, the
upper lip nearer the nose, the mouth more open).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from pedpain.assess.quality import aligned_landmarks
from pedpain.vision.processor import FaceResult

EYE_CLOSED = 0.08  # lid gap / eye width under which an eye counts as closed

R_BROW, L_BROW = (105, 66, 107, 65, 52), (334, 296, 336, 295, 282)
R_UPPER, R_LOWER, R_CORNERS = 159, 145, (33, 133)
L_UPPER, L_LOWER, L_CORNERS = 386, 374, (263, 362)
SUBNASALE, UPPER_LIP, LIP_TOP_IN, LIP_BOTTOM_IN = 2, 0, 13, 14

MEASURES = ("brow_eye", "eye_aperture", "nose_lip", "mouth_open")
#: Sign that makes a change "more like pain": a smaller distance for the first three.
PAIN_SIGN = {"brow_eye": -1.0, "eye_aperture": -1.0, "nose_lip": -1.0, "mouth_open": 1.0}
ACTION_UNITS = {
    "brow_eye": "AU4 brow lowering",
    "eye_aperture": "AU6/7 orbit tightening",
    "nose_lip": "AU9/10 nose wrinkle / upper-lip raise",
    "mouth_open": "AU25-27 mouth opening",
}


def face_geometry(face: FaceResult) -> dict[str, float] | None:
    """The measures of one face (IOD units), or None without landmarks."""
    pts = aligned_landmarks(face)
    if pts is None:
        return None
    right = pts[list(R_CORNERS)].mean(axis=0)
    left = pts[list(L_CORNERS)].mean(axis=0)
    iod = float(np.linalg.norm(left - right))
    if iod < 1:
        return None

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(pts[a] - pts[b]))

    # The image is eye-aligned, so "vertical" is the image's y axis.
    brow_r = pts[R_UPPER, 1] - pts[list(R_BROW), 1].mean()
    brow_l = pts[L_UPPER, 1] - pts[list(L_BROW), 1].mean()
    ap_r = dist(R_UPPER, R_LOWER) / max(dist(*R_CORNERS), 1e-6)
    ap_l = dist(L_UPPER, L_LOWER) / max(dist(*L_CORNERS), 1e-6)
    return {
        "brow_eye": float((brow_r + brow_l) / 2 / iod),
        "eye_aperture": float((ap_r + ap_l) / 2),
        "nose_lip": dist(SUBNASALE, UPPER_LIP) / iod,
        "mouth_open": dist(LIP_TOP_IN, LIP_BOTTOM_IN) / iod,
    }


def _median(rows: list[dict[str, float]], key: str) -> float:
    vals = [r[key] for r in rows if math.isfinite(r.get(key, math.nan))]
    return float(np.median(vals)) if vals else math.nan


def explain_geometry(
    faces: list[FaceResult], baseline: list[FaceResult] | None = None
) -> dict[str, Any]:
    """Median measures over the scored faces, and their change from the baseline."""
    rows = [g for g in (face_geometry(f) for f in faces) if g is not None]
    if not rows:
        return {"measures": None, "baseline_faces": 0, "note": "no face-mesh landmarks"}
    raw = {k: _median(rows, k) for k in MEASURES}
    measures = {k: round(v, 4) for k, v in raw.items()}
    closed = [r["eye_aperture"] < EYE_CLOSED for r in rows]
    out: dict[str, Any] = {
        "units": "fractions of the inter-ocular distance (eye_aperture: of the eye width)",
        "measures": measures,
        "eyes_closed": round(float(np.mean(closed)), 3),
        "action_units": ACTION_UNITS,
        "baseline_faces": 0,
        "change": None,
    }
    base_rows = [g for g in (face_geometry(f) for f in baseline or []) if g is not None]
    if base_rows:
        ref = {k: _median(base_rows, k) for k in MEASURES}
        change = {}
        for k in MEASURES:
            if math.isfinite(ref[k]) and ref[k] > 1e-6 and math.isfinite(raw[k]):
                # Relative change, signed so that positive = more like pain.
                change[f"{k}_change"] = round(PAIN_SIGN[k] * (raw[k] - ref[k]) / ref[k], 4)
        out["baseline_faces"] = len(base_rows)
        out["baseline"] = {k: round(v, 4) for k, v in ref.items()}
        out["change"] = change
    return out


# ------------------------------------------------------------------------------ Grad-CAM


def last_conv(module: torch.nn.Module) -> torch.nn.Module:
    """The network's last convolution: where Grad-CAM looks."""
    conv = None
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            conv = m
    if conv is None:
        raise ValueError("the network has no convolution layer for Grad-CAM")
    return conv


def grad_cam(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """Grad-CAM of the pain intensity output for one standardised face (1, 3, S, S):
    an (S, S) map in [0, 1]."""
    layer = last_conv(net)
    store: dict[str, torch.Tensor] = {}

    def forward_hook(_m: torch.nn.Module, _i: Any, out: torch.Tensor) -> None:
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(forward_hook)
    try:
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            intensity, _ = net(x)
            net.zero_grad(set_to_none=True)
            intensity.sum().backward()
    finally:
        handle.remove()
    act, grad = store["act"].detach()[0], store["grad"].detach()[0]
    weights = grad.mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * act).sum(0)).numpy()
    if cam.max() > 0:
        cam = cam / cam.max()
    return cv2.resize(cam.astype(np.float32), (x.shape[-1], x.shape[-2]))


def heatmap_png(face: np.ndarray, cam: np.ndarray, path: Path) -> Path:
    """The face with the Grad-CAM map blended over it, written as PNG."""
    from pedpain.core.files import atomic_write_bytes

    cam = cv2.resize(cam, (face.shape[1], face.shape[0]))
    colour = cv2.applyColorMap((255 * cam).astype(np.uint8), cv2.COLORMAP_JET)
    bgr = cv2.cvtColor(face, cv2.COLOR_RGB2BGR)
    blend = cv2.addWeighted(bgr, 0.55, colour, 0.45, 0)
    ok, data = cv2.imencode(".png", blend)
    if not ok:  # pragma: no cover - encoding a valid uint8 image does not fail
        raise OSError("PNG encoding failed")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data.tobytes())
    return path
