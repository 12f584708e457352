"""Procedural cartoon faces for the GAN tests, in the UNBC-McMaster layout.

Not the phantom generator (pedpain.data.phantom, another module): a few OpenCV ellipses
per frame, so the tests stay fast and independent. The expression follows PSPI the way
pain looks: brows lower and draw together, eyes narrow, the mouth opens. AAM points 36-47
sit on the eyes, so pedpain aligns these faces like real ones.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SUBJECTS = ["042-ll042", "043-jh043", "047-jl047", "048-aa048", "049-bm049", "052-dr052"]
W, H = 160, 160
EYES = ((62, 70), (98, 70))


def draw_face(
    pspi: float, skin: tuple[int, int, int], hair: tuple[int, int, int], rng
) -> np.ndarray:
    """One RGB face; pspi 0-16 drives the expression."""
    p = float(np.clip(pspi / 12.0, 0, 1))
    img = np.full((H, W, 3), (200, 205, 210), np.uint8)
    img = cv2.add(img, rng.integers(0, 12, img.shape, dtype=np.uint8))
    cv2.ellipse(img, (80, 62), (50, 44), 0, 180, 360, hair, -1)  # hair
    cv2.ellipse(img, (80, 84), (42, 54), 0, 0, 360, skin, -1)  # head
    dark = (40, 30, 30)
    for (x, y), side in zip(EYES, (-1, 1), strict=True):
        cv2.ellipse(
            img, (x, y), (9, max(1, int(5 * (1 - 0.8 * p)))), 0, 0, 360, (250, 250, 250), -1
        )
        cv2.circle(img, (x, y), 3, dark, -1)
        # Brows: lower and tilt inwards with pain (AU4).
        inner = (x - side * 10 + side * int(4 * p), int(y - 12 + 6 * p))
        outer = (x + side * 10, int(y - 14 + 2 * p))
        cv2.line(img, inner, outer, dark, 3)
    cv2.line(img, (80, 76), (80, 96), tuple(int(c * 0.8) for c in skin), 2)  # nose
    # Mouth: a line that opens into a grimace (AU25/27-ish), upper lip raised (AU10).
    cv2.ellipse(img, (80, 112), (14 + int(6 * p), 2 + int(9 * p)), 0, 0, 360, (120, 40, 50), -1)
    return img


def _num(v: float) -> str:
    return f"   {v:.7e}\n"


def make_face_tree(root: Path, frames_per_seq: int = 12, seed: int = 0, subjects=SUBJECTS) -> Path:
    """A UNBC-layout tree of procedural faces; PSPI spread over 0-12."""
    rng = np.random.default_rng(seed)
    for subj in subjects:
        initials, sid = subj[4:6], subj[:3]
        skin = tuple(int(v) for v in rng.integers(150, 235, 3))
        hair = tuple(int(v) for v in rng.integers(20, 120, 3))
        for seq in (f"{initials}{sid}t1aaaff", f"{initials}{sid}t2afunaff"):
            for i in range(1, frames_per_seq + 1):
                stem = f"{seq}{i:03d}"
                pspi = int(rng.integers(0, 13)) if rng.random() < 0.7 else 0
                img = draw_face(pspi, skin, hair, rng)  # type: ignore[arg-type]
                d = root / "Images" / subj / seq
                d.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(d / f"{stem}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                for kind, text in (
                    ("PSPI", _num(pspi)),
                    ("FACS", "" if pspi == 0 else f"   {4:.7e}   {pspi:.7e}   {0:.7e}   {0:.7e}\n"),
                ):
                    d = root / "Frame_Labels" / kind / subj / seq
                    d.mkdir(parents=True, exist_ok=True)
                    (d / f"{stem}_facs.txt").write_text(text)
                pts = np.tile([[80.0, 90.0]], (66, 1))
                pts[36:42] = EYES[0]
                pts[42:48] = EYES[1]
                d = root / "AAM_landmarks" / subj / seq
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{stem}_aam.txt").write_text("".join(f"{x} {y}\n" for x, y in pts))
    (root / "SYNTHETIC.txt").write_text("Procedural cartoon faces made by tests/gan_faces.py\n")
    return root
