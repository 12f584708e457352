"""A UNBC-layout tree made here and the tiny experiment config the training tests use
(resnet18 at 64 px); the session-scoped trained model in conftest.py is made from them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from pedpain.training.config import apply_overrides

SUBJECTS = ["042-ll042", "043-jh043", "047-jl047", "048-aa048", "049-bm049", "052-dr052"]


def _num(v: float) -> str:
    return f"   {v:.7e}\n"


def make_unbc_tree(root: Path, frames_per_seq: int = 12, seed: int = 0) -> Path:
    """Images whose bright square grows with PSPI; AAM eyes at fixed places."""
    rng = np.random.default_rng(seed)
    for subj in SUBJECTS:
        initials, sid = subj[4:6], subj[:3]
        shade = int(rng.integers(30, 90))
        for seq in (f"{initials}{sid}t1aaaff", f"{initials}{sid}t2afunaff"):
            for i in range(1, frames_per_seq + 1):
                stem = f"{seq}{i:03d}"
                pspi = int(rng.integers(0, 9)) if rng.random() < 0.6 else 0
                img = np.full((120, 160, 3), shade, np.uint8)
                img += rng.integers(0, 20, img.shape, dtype=np.uint8)
                r = 6 + pspi * 3
                img[70 - r : 70 + r, 80 - r : 80 + r] = 230
                for part, rel in (("Images", f"{stem}.png"),):
                    d = root / part / subj / seq
                    d.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(d / rel), img)
                for kind, text in (
                    ("PSPI", _num(pspi)),
                    ("FACS", "" if pspi == 0 else f"   {4:.7e}   {pspi:.7e}   {0:.7e}   {0:.7e}\n"),
                ):
                    d = root / "Frame_Labels" / kind / subj / seq
                    d.mkdir(parents=True, exist_ok=True)
                    (d / f"{stem}_facs.txt").write_text(text)
                pts = np.tile([[80.0, 60.0]], (66, 1))
                pts[36:42] = [60, 45]
                pts[42:48] = [100, 45]
                d = root / "AAM_landmarks" / subj / seq
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{stem}_aam.txt").write_text("".join(f"{x} {y}\n" for x, y in pts))
    return root


def write_config(path: Path, root: Path, **extra) -> Path:
    doc = {
        "stage": "source",
        "name": "tiny",
        "data": {
            "kind": "unbc",
            "root": str(root),
            "target": "pspi",
            "cache": str(root.parent / f"{root.name}-faces"),
        },
        "split": {"kind": "holdout", "test_fraction": 0.34, "val_fraction": 0.0},
        "model": {"backbone": "resnet18", "input_size": 64, "head_hidden": [32]},
        "train": {"batch_size": 16, "epochs": 3, "lr": 0.003, "early_stopping_patience": 0},
        "augment": {"rotation_deg": 5},
    }
    doc = apply_overrides(doc, [f"{k}={v}" for k, v in extra.items()])
    path.write_text(yaml.safe_dump(doc))
    return path
