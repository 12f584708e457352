"""The pain expression: PSPI action units, how latent pain drives them, and how each moves
the face's landmarks.

Intensities follow FACS: 0-5 (A-E = 1-5) for AU4 (brow lowerer), AU6 (cheek raiser),
AU7 (lid tightener), AU9 (nose wrinkler), AU10 (upper lip raiser) and the mouth opening
of crying (coded AU25/26/27); AU43 (eyes closed) is a closure 0-1, coded present from 0.5.
PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 on the coded (integer) intensities.

The expressions that share cues with pain without being pain (smiling, yawning, talking,
sleeping, a concentration frown, crying at separation) add three more actions: AU1 (inner
brow raiser), AU12 (lip corner puller) and ``jaw``, a mouth opening without the crying
stretch (AU25/26/27 of a yawn or of speech). They live in :mod:`confounders`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pedpain.data.phantom import landmarks as lm

#: The actions pain drives (one per-child offset each, see :func:`draw_offsets`).
PAIN_ACTIONS = ("au4", "au6", "au7", "au9", "au10", "au43", "mouth")
#: Every action the phantom renders, in the order of the truth files' columns.
ACTION_NAMES = (*PAIN_ACTIONS, "au1", "au12", "jaw")
#: FACS codes for the mouth opening: lips part, jaw drop, mouth stretch.
MOUTH_CODES = (25, 26, 27)


@dataclass(frozen=True)
class ActionUnits:
    au4: float = 0.0
    au6: float = 0.0
    au7: float = 0.0
    au9: float = 0.0
    au10: float = 0.0
    au43: float = 0.0  # eye closure 0-1
    mouth: float = 0.0  # mouth opening 0-5 (crying)
    au1: float = 0.0  # inner brow raiser 0-5 (distress, surprise)
    au12: float = 0.0  # lip corner puller 0-5 (smiling)
    jaw: float = 0.0  # mouth opening 0-5 without the crying stretch (yawn, speech)

    def coded(self) -> dict[int, int]:
        """Integer FACS intensities of the active AUs, as a coder would write them."""
        out: dict[int, int] = {}
        for code, value in ((4, self.au4), (6, self.au6), (7, self.au7), (9, self.au9)):
            if round(value) > 0:
                out[code] = int(np.rint(value))
        if round(self.au10) > 0:
            out[10] = int(np.rint(self.au10))
        if round(self.au1) > 0:
            out[1] = int(np.rint(self.au1))
        if round(self.au12) > 0:
            out[12] = int(np.rint(self.au12))
        if self.au43 >= 0.5:
            out[43] = 1
        opening = max(self.mouth, self.jaw)
        if opening >= 0.5:
            out[25] = max(1, min(5, int(np.rint(opening))))
        if opening >= 1.5:
            out[26] = max(1, min(5, int(np.rint(opening))))
        if opening >= 4.0:
            out[27] = 1
        return out

    def pspi(self) -> int:
        c = self.coded()
        return (
            c.get(4, 0)
            + max(c.get(6, 0), c.get(7, 0))
            + max(c.get(9, 0), c.get(10, 0))
            + c.get(43, 0)
        )

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def pspi_from_codes(codes: dict[int, float]) -> int:
    """PSPI from integer FACS intensities {AU: intensity} (AU43 counts as 1 when present)."""
    return int(
        codes.get(4, 0)
        + max(codes.get(6, 0), codes.get(7, 0))
        + max(codes.get(9, 0), codes.get(10, 0))
        + (1 if codes.get(43, 0) else 0)
    )


def draw_offsets(rng: np.random.Generator, scale: float = 0.08) -> np.ndarray:
    """Per-child (or per-clip) deviations of each action from the typical pain face."""
    return rng.normal(0, scale, len(PAIN_ACTIONS))


#: How often each pain action takes part in a pain face. Children in pain rarely show the
#: whole prototype at once: brow lowering and eye squeezing are the most frequent facial
#: actions of pain in the child coding systems (NFCS, CFCS), the nasolabial furrow / upper
#: lip next, an open (crying) mouth in about half, closed eyes least. The figures are the
#: phantom's own choice in that order, not measured proportions.
PAIN_ACTION_RATE = {
    "au4": 0.9, "au6": 0.7, "au7": 0.85, "au9": 0.5, "au10": 0.65, "au43": 0.35, "mouth": 0.55,
}  # fmt: skip


def draw_gates(rng: np.random.Generator) -> np.ndarray:
    """Per-photo (or per-clip) share of each pain action: present ones at 0.6-1.15 of the
    typical ramp, absent ones at 0-0.2, so single cues stop predicting pain on their own."""
    rate = np.array([PAIN_ACTION_RATE[a] for a in PAIN_ACTIONS])
    present = rng.uniform(size=len(PAIN_ACTIONS)) < rate
    strong = rng.uniform(0.6, 1.15, len(PAIN_ACTIONS))
    weak = rng.uniform(0.0, 0.2, len(PAIN_ACTIONS))
    gates = np.where(present, strong, weak)
    if not present[[0, 2]].any():  # pain without brow or lid action is too rare to model
        gates[0] = strong[0]
    return gates


def actions_for_level(
    level: float, offsets: np.ndarray | None = None, gates: np.ndarray | None = None
) -> ActionUnits:
    """Action units for an expression level (0 = rest, 1 = a strong pain face, up to 1.2).

    The ramps are staggered as in the pain-face literature: brow lowering and orbit
    tightening first, nose wrinkle and lip raise next, eye closure and crying last.
    ``gates`` (see :func:`draw_gates`) scales each action of this face on its own.
    """
    o = np.zeros(len(PAIN_ACTIONS)) if offsets is None else offsets
    g = np.ones(len(PAIN_ACTIONS)) if gates is None else gates
    lv = float(max(level, 0.0))

    def ramp(k: int, start: float, gain: float) -> float:
        value = float(np.clip((lv - start) * gain + o[k] * min(1.0, lv * 4), 0.0, 1.0))
        return value if gates is None else float(min(1.0, value * g[k]))

    return ActionUnits(
        au4=5 * ramp(0, 0.05, 1.15),
        au6=5 * ramp(1, 0.15, 1.1),
        au7=5 * ramp(2, 0.1, 1.1),
        au9=5 * ramp(3, 0.25, 1.1),
        au10=5 * ramp(4, 0.2, 1.1),
        au43=ramp(5, 0.62, 2.6),
        mouth=5 * ramp(6, 0.35, 1.35),
    )


def combine(pain: ActionUnits, other: ActionUnits) -> ActionUnits:
    """One face showing both: each action at the stronger of the two (a grimacing smile,
    a yawn through a frown)."""
    a, b = asdict(pain), asdict(other)
    return ActionUnits(**{k: max(float(a[k]), float(b[k])) for k in a})


# ------------------------------------------------------------------ landmark displacements


def _spread(
    points: np.ndarray, handles: dict[int, tuple[float, float]], radius: float
) -> np.ndarray:
    """Displacements for every landmark: handles move exactly as given, the others by a
    distance-weighted mean of nearby handles, fading out beyond ``radius``."""
    idx = np.array(list(handles), dtype=np.int64)
    vec = np.array([handles[i] for i in idx], dtype=np.float64)
    d = np.hypot(
        points[:, None, 0] - points[None, idx, 0], points[:, None, 1] - points[None, idx, 1]
    )
    g = np.exp(-((d / (0.5 * radius)) ** 2)) + 1e-12
    mean = (g @ vec) / g.sum(axis=1, keepdims=True)
    fade = np.exp(-((d.min(axis=1) / radius) ** 2))[:, None]
    out = mean * fade
    out[idx] = vec
    return out


def _lid_pairs(mesh: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """For each inner upper-lid point, the lower lid's y at the same x."""
    lx = mesh[list(lower), 0]
    ly = mesh[list(lower), 1]
    order = np.argsort(lx)
    return np.interp(mesh[list(upper), 0], lx[order], ly[order])


def action_bases(mesh: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 2) landmark displacements of each action at full intensity, plus ``yaw`` and
    ``pitch`` parallax per unit sine, for one neutral face."""
    a, b = lm.eye_centres(mesh)
    u = float(np.hypot(*(b - a)))
    mid_x = float((a[0] + b[0]) / 2)
    p = mesh[:, :2]
    bases: dict[str, np.ndarray] = {}
    upper_lids = lm.EYE_A_UPPER[1:-1] + lm.EYE_B_UPPER[1:-1]
    lower_lids = lm.EYE_A_LOWER[1:-1] + lm.EYE_B_LOWER[1:-1]
    corners = (33, 133, 263, 362)
    nose = (lm.NOSE_TIP, 2, 94, 19)
    lips_up = lm.LIPS_OUTER_UPPER[1:-1] + lm.LIPS_INNER_UPPER[1:-1]
    lips_low = lm.LIPS_OUTER_LOWER[1:-1] + lm.LIPS_INNER_LOWER[1:-1]
    mouth_corners = (61, 291, 78, 308)

    def fixed(*groups: tuple[int, ...]) -> dict[int, tuple[float, float]]:
        return {i: (0.0, 0.0) for g in groups for i in g}

    # AU4: brows down and together (more at the inner end), upper lids pushed a little.
    h = fixed(lower_lids, corners, nose)
    for i in lm.BROW_A + lm.BROW_B:
        inner = float(np.clip(1.0 - abs(p[i, 0] - mid_x) / (0.9 * u), 0.2, 1.0))
        h[i] = (np.sign(mid_x - p[i, 0]) * 0.07 * u * inner, 0.15 * u * (0.6 + 0.4 * inner))
    for i in upper_lids:
        h[i] = (0.0, 0.04 * u)
    bases["au4"] = _spread(p, h, 0.35 * u)
    # AU6: cheeks and lower lids up.
    h = fixed(upper_lids, lm.BROW_A + lm.BROW_B, nose, mouth_corners)
    for i in lower_lids:
        h[i] = (0.0, -0.05 * u)
    for eye in (a, b):
        cheek = np.where(
            (np.abs(p[:, 0] - eye[0]) < 0.35 * u)
            & (p[:, 1] > eye[1] + 0.25 * u)
            & (p[:, 1] < eye[1] + 0.6 * u)
        )[0]
        for i in cheek:
            h[int(i)] = (0.0, -0.08 * u)
    bases["au6"] = _spread(p, h, 0.3 * u)
    # AU7: lids tighten (lower up more than upper down).
    h = fixed(lm.BROW_A + lm.BROW_B, nose)
    for i in lower_lids:
        h[i] = (0.0, -0.07 * u)
    for i in upper_lids:
        h[i] = (0.0, 0.035 * u)
    bases["au7"] = _spread(p, h, 0.2 * u)
    # AU9: nose wings and tip up, inner brows down a little.
    h = fixed(upper_lids, lower_lids, mouth_corners)
    for i in lm.NOSE_WINGS:
        h[i] = (0.0, -0.07 * u)
    for i in nose:
        h[i] = (0.0, -0.035 * u)
    for i in (107, 336, 55, 285, 65, 295):
        h[i] = (0.0, 0.04 * u)
    bases["au9"] = _spread(p, h, 0.3 * u)
    # AU10: upper lip up (most at the centre), nose wings slightly.
    h = fixed(lips_low, upper_lids, lower_lids)
    lip_cx = float(p[list(lips_up), 0].mean())
    for i in lips_up:
        centre = float(np.clip(1.0 - abs(p[i, 0] - lip_cx) / (0.6 * u), 0.3, 1.0))
        h[i] = (0.0, -0.11 * u * centre)
    for i in lm.NOSE_WINGS:
        h[i] = (0.0, -0.025 * u)
    bases["au10"] = _spread(p, h, 0.3 * u)
    # AU43: upper lids down onto the lower lids.
    h = fixed(lower_lids, corners, lm.BROW_A + lm.BROW_B)
    for upper, lower in ((lm.EYE_A_UPPER, lm.EYE_A_LOWER), (lm.EYE_B_UPPER, lm.EYE_B_LOWER)):
        target = _lid_pairs(mesh, upper, lower)
        for j, i in enumerate(upper):
            if i not in corners:
                h[i] = (0.0, 0.9 * float(target[j] - p[i, 1]))
    bases["au43"] = _spread(p, h, 0.15 * u)
    # Crying mouth: jaw drops, lower lip follows, corners stretch down and out.
    h = fixed(lm.NOSE_WINGS, upper_lids, lower_lids, nose)
    mouth_y = float(p[list(lips_up), 1].mean())
    chin_y = float(p[lm.CHIN, 1])
    for i in lips_low:
        h[i] = (0.0, 0.42 * u)
    for i in lm.LIPS_INNER_UPPER[1:-1]:
        h[i] = (0.0, -0.03 * u)
    for i in mouth_corners:
        h[i] = (np.sign(p[i, 0] - lip_cx) * 0.07 * u, 0.14 * u)
    for i in lm.FACE_OVAL:
        if p[i, 1] > mouth_y:
            frac = float(np.clip((p[i, 1] - mouth_y) / max(chin_y - mouth_y, 1.0), 0, 1))
            h[i] = (0.0, 0.36 * u * frac**1.5)
    bases["mouth"] = _spread(p, h, 0.45 * u)
    # AU1: inner brows up (the distress and surprise brow), outer ends nearly still.
    h = fixed(upper_lids, lower_lids, corners, nose)
    for i in lm.BROW_A + lm.BROW_B:
        inner = float(np.clip(1.0 - abs(p[i, 0] - mid_x) / (0.9 * u), 0.1, 1.0))
        h[i] = (np.sign(mid_x - p[i, 0]) * 0.02 * u * inner, -0.16 * u * inner**1.5)
    bases["au1"] = _spread(p, h, 0.35 * u)
    # AU12: lip corners up and out, the cheeks above them lifted a little.
    h = fixed(upper_lids, lm.BROW_A + lm.BROW_B, nose)
    for i in mouth_corners:
        h[i] = (np.sign(p[i, 0] - lip_cx) * 0.15 * u, -0.17 * u)
    for i in lips_up:
        side = float(np.clip(abs(p[i, 0] - lip_cx) / (0.5 * u), 0.0, 1.0))
        h[i] = (np.sign(p[i, 0] - lip_cx) * 0.06 * u * side, -0.04 * u * side)
    for i in lips_low:
        side = float(np.clip(abs(p[i, 0] - lip_cx) / (0.5 * u), 0.0, 1.0))
        h[i] = (np.sign(p[i, 0] - lip_cx) * 0.06 * u * side, -0.05 * u * side - 0.02 * u)
    bases["au12"] = _spread(p, h, 0.4 * u)
    # Jaw drop without the crying stretch: a round opening (yawn, speech), corners in.
    h = fixed(lm.NOSE_WINGS, upper_lids, lower_lids, nose)
    for i in lips_low:
        h[i] = (0.0, 0.46 * u)
    for i in lm.LIPS_INNER_UPPER[1:-1]:
        h[i] = (0.0, -0.02 * u)
    for i in mouth_corners:
        h[i] = (-np.sign(p[i, 0] - lip_cx) * 0.04 * u, 0.2 * u)
    for i in lm.FACE_OVAL:
        if p[i, 1] > mouth_y:
            frac = float(np.clip((p[i, 1] - mouth_y) / max(chin_y - mouth_y, 1.0), 0, 1))
            h[i] = (0.0, 0.42 * u * frac**1.5)
    bases["jaw"] = _spread(p, h, 0.45 * u)
    # Pose parallax: points nearer the camera (smaller z) move more when the head turns.
    z_ref = float(mesh[list(lm.FACE_OVAL), 2].mean())
    depth = mesh[:, 2] - z_ref
    bases["yaw"] = np.stack([-depth, np.zeros_like(depth)], 1)
    bases["pitch"] = np.stack([np.zeros_like(depth), -depth], 1)
    return bases


def displacement(
    bases: dict[str, np.ndarray], actions: ActionUnits, yaw_deg: float = 0.0, pitch_deg: float = 0.0
) -> np.ndarray:
    """Landmark displacements of a face showing ``actions`` with the given turn."""
    out = (
        bases["au4"] * (actions.au4 / 5)
        + bases["au6"] * (actions.au6 / 5)
        + bases["au7"] * (actions.au7 / 5)
        + bases["au9"] * (actions.au9 / 5)
        + bases["au10"] * (actions.au10 / 5)
        + bases["au43"] * actions.au43
        + bases["mouth"] * (actions.mouth / 5)
    )
    # The confounders' actions (zero on the pain-only path, which then costs nothing more).
    for name in ("au1", "au12", "jaw"):
        value = getattr(actions, name)
        if value and name in bases:
            out = out + bases[name] * (value / 5)
    if yaw_deg:
        out = out + bases["yaw"] * np.sin(np.radians(yaw_deg))
    if pitch_deg:
        out = out + bases["pitch"] * np.sin(np.radians(pitch_deg))
    return out
