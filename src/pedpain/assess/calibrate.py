"""Calibrating the quality gate on phantom faces: clean ones must pass, degraded ones
(occluded by a pacifier, nasal cannula, feeding tube, surgical mask or a hand; blurred;
too dark or bright; too small; turned away) must be refused.

Samples are rendered with the phantom generator's own renderer (identities, expressions,
props and camera of ``pedpain phantom oapc``), with one nuisance at a time so that each
check is calibrated against the problem it is for. Each threshold is the value that best
separates clean from degraded samples (Youden's J) while letting at least
``min_clean_pass`` of the clean ones through; the result is written to the model
folder's ``quality.json`` together with the pass/refusal rates it achieves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pedpain.assess.quality import (
    QualityThresholds,
    check_face,
    face_measures,
    identity_distance,
    identity_vector,
)
from pedpain.vision.config import PreprocessConfig
from pedpain.vision.processor import FaceProcessor

FRAME = (640, 480)
#: The conditions rendered per identity, and the check each one is meant to trip.
CONDITIONS: dict[str, str] = {
    "clean": "",
    "clean_expressive": "",
    "pacifier": "occluded",
    "cannula": "occluded",
    "ng_tube": "occluded",
    "mask": "occluded",
    "hand": "occluded",
    "blur": "too_blurred",
    "dark": "too_dark",
    "bright": "too_bright",
    "small": "face_too_small",
    "turned": "extreme_pose",
}
OCCLUDERS = ("pacifier", "cannula", "ng_tube", "mask", "hand")
#: The strictest values calibration may choose (see ``calibrate``).
GUARD = {
    "min_sharpness": 40.0,
    "min_brightness": 45.0,
    "max_brightness": 215.0,
    "min_face_conf": 0.78,
    "max_occlusion": 0.5,
}


@dataclass
class Sample:
    identity: int
    condition: str
    rgb: np.ndarray


def render_samples(n_identities: int = 8, seed: int = 11) -> Iterator[Sample]:
    """Phantom frames, one per (identity, condition)."""
    from pedpain.data.phantom.expression import actions_for_level
    from pedpain.data.phantom.identities import make_identity
    from pedpain.data.phantom.render import Camera, Pose, Props, make_look, render_frame

    for i in range(n_identities):
        rng = np.random.default_rng([seed, i])
        age = int(rng.integers(6, 160))
        identity = make_identity(int(rng.integers(0, 2**31)), age_months=age, sex="FM"[i % 2])
        base = Pose(
            roll=float(rng.normal(0, 6)),
            yaw=float(rng.normal(0, 6)),
            pitch=float(rng.normal(0, 3)),
            iod=float(FRAME[1] * rng.uniform(0.11, 0.16)),
            x=float(rng.uniform(0.42, 0.58)),
            y=float(rng.uniform(0.38, 0.45)),
        )
        for condition in CONDITIONS:
            props = Props(
                pacifier=condition == "pacifier",
                cannula=condition == "cannula",
                ng_tube=1 if condition == "ng_tube" else 0,
                hand=(
                    (float(rng.uniform(-0.2, 0.2)), float(rng.uniform(0.5, 0.9)), 0.0, 1.1)
                    if condition == "hand"
                    else None
                ),
            )
            pose = replace(base)
            camera = Camera(noise=float(rng.uniform(1.0, 4.0)), jpeg_quality=0)
            level = float(rng.uniform(0.5, 1.1)) if condition == "clean_expressive" else 0.1
            if condition == "blur":
                camera.blur = float(rng.uniform(3.5, 6.0))
            elif condition == "dark":
                camera.gain = float(rng.uniform(0.12, 0.22))
            elif condition == "bright":
                camera.gain = float(rng.uniform(2.8, 3.6))
            elif condition == "small":
                pose.iod = float(rng.uniform(9.0, 16.0))
            elif condition == "turned":
                pose.yaw = float(rng.choice([-1, 1]) * rng.uniform(55, 70))
            look = make_look(identity, FRAME[0], FRAME[1], rng, pose, props)
            frame, truth = render_frame(
                look, actions_for_level(level), pose, camera, rng, hand=True, second_face=False
            )
            if condition == "mask":
                _draw_mask(frame, np.asarray(truth["_mesh"]))
            yield Sample(i, condition, frame)


def _draw_mask(frame: np.ndarray, mesh: np.ndarray) -> None:
    """A surgical mask: a pale blue shape from the nose bridge over mouth and chin."""
    idx = (168, 6, 197, 195, 5, 4, 1, 2)
    top = mesh[list(idx), :2].mean(axis=0)
    outline = mesh[[234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378,
                    379, 365, 397, 288, 361, 323, 454], :2]  # fmt: skip
    below = outline[outline[:, 1] > top[1] - 2]
    pts = np.vstack([top[None], below]).astype(np.int32)
    hull = cv2.convexHull(pts)
    cv2.fillConvexPoly(frame, hull, (170, 205, 230), cv2.LINE_AA)


def measure_samples(
    samples: Iterator[Sample], config: PreprocessConfig | None = None
) -> list[dict[str, Any]]:
    """Gate measures of every sample (plus the identity descriptor)."""
    processor = FaceProcessor(config or PreprocessConfig())
    rows = []
    try:
        for s in samples:
            face = processor.process_image(s.rgb)
            row: dict[str, Any] = {"identity": s.identity, "condition": s.condition}
            row["found"] = bool(face.found and face.image is not None)
            if row["found"]:
                row.update(face_measures(face))
                row["_id"] = identity_vector(face)
                row["_face"] = face
            rows.append(row)
    finally:
        processor.close()
    return rows


def _best_threshold(
    clean: np.ndarray, bad: np.ndarray, kind: str, min_clean_pass: float, default: float
) -> float:
    """The cut that maximises Youden's J (clean passing + bad refused - 1), among those
    letting at least ``min_clean_pass`` of the clean samples through."""
    clean = clean[np.isfinite(clean)]
    bad = bad[np.isfinite(bad)]
    if clean.size == 0 or bad.size == 0:
        return default
    candidates = np.unique(np.concatenate([clean, bad]))
    mids = np.concatenate([(candidates[:-1] + candidates[1:]) / 2, [default]])
    best, best_j = default, -math.inf
    for cut in mids:
        if kind == "max":  # refuse above the cut
            pass_clean, refuse_bad = (clean <= cut).mean(), (bad > cut).mean()
        else:  # refuse below the cut
            pass_clean, refuse_bad = (clean >= cut).mean(), (bad < cut).mean()
        if pass_clean < min_clean_pass:
            continue
        j = pass_clean + refuse_bad - 1
        if j > best_j + 1e-9:
            best, best_j = float(cut), j
    return best


def calibrate(
    rows: list[dict[str, Any]], min_clean_pass: float = 0.95, base: QualityThresholds | None = None
) -> QualityThresholds:
    t = base or QualityThresholds()

    def values(conditions: tuple[str, ...], key: str) -> np.ndarray:
        return np.array(
            [r[key] for r in rows if r["condition"] in conditions and r["found"]], float
        )

    clean = ("clean", "clean_expressive")
    occlusion = _best_threshold(
        values(clean, "occlusion"), values(OCCLUDERS, "occlusion"), "max", min_clean_pass,
        t.max_occlusion,
    )  # fmt: skip
    # The confidence check catches the occlusions the colour measure misses.
    missed = tuple(
        r["face_conf"]
        for r in rows
        if r["condition"] in OCCLUDERS and r["found"] and not r["occlusion"] > occlusion
    )
    conf = _best_threshold(
        values(clean, "face_conf"), np.array(missed, float), "min", min_clean_pass,
        t.min_face_conf,
    )  # fmt: skip
    sharp = _best_threshold(
        values(clean, "sharpness"), values(("blur",), "sharpness"), "min", min_clean_pass,
        t.min_sharpness,
    )  # fmt: skip
    dark = _best_threshold(
        values(clean, "brightness"), values(("dark",), "brightness"), "min", min_clean_pass,
        t.min_brightness,
    )  # fmt: skip
    bright = _best_threshold(
        values(clean, "brightness"), values(("bright",), "brightness"), "max", min_clean_pass,
        t.max_brightness,
    )  # fmt: skip
    # Guard rails: phantom skin is smoother and its light kinder than a ward's, so the
    # calibration may loosen but never tighten these checks beyond what real photos need.
    sharp = min(sharp, GUARD["min_sharpness"])
    dark = min(dark, GUARD["min_brightness"])
    bright = max(bright, GUARD["max_brightness"])
    conf = min(conf, GUARD["min_face_conf"])
    occlusion = max(occlusion, GUARD["max_occlusion"])
    # The identity threshold is not calibrated here: phantom identities are blends of the
    # same two source photos, so their shape differences say little about real children.
    return replace(
        t,
        max_occlusion=round(occlusion, 4),
        min_face_conf=round(conf, 4),
        min_sharpness=round(sharp, 3),
        min_brightness=round(dark, 2),
        max_brightness=round(bright, 2),
        source="phantom calibration",
    )


def _identity_distances(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Shape distances between faces of the same identity (clean, other expressions)
    and of different identities."""
    good = [r for r in rows if r.get("_id") is not None and r["condition"].startswith("clean")]
    same: list[float] = []
    other: list[float] = []
    for a in range(len(good)):
        for b in range(a + 1, len(good)):
            d = identity_distance(good[a]["_id"], good[b]["_id"])
            (same if good[a]["identity"] == good[b]["identity"] else other).append(d)
    return np.array(same, float), np.array(other, float)


def evaluate_gate(rows: list[dict[str, Any]], t: QualityThresholds) -> dict[str, Any]:
    """Share of each condition the gate lets through, with the refusals' reasons."""
    out: dict[str, Any] = {}
    for condition in CONDITIONS:
        sub = [r for r in rows if r["condition"] == condition]
        reasons = [check_face(r["_face"], t).reason if r["found"] else "no_face" for r in sub]
        out[condition] = {
            "n": len(sub),
            "passed": round(sum(not x for x in reasons) / max(len(sub), 1), 3),
            "reasons": {x: reasons.count(x) for x in sorted(set(reasons)) if x},
        }
    clean = [v for k, v in out.items() if not CONDITIONS[k]]
    bad = [v for k, v in out.items() if CONDITIONS[k]]
    out["summary"] = {
        "clean_pass_rate": round(float(np.mean([v["passed"] for v in clean])), 3),
        "degraded_refusal_rate": round(1 - float(np.mean([v["passed"] for v in bad])), 3),
    }
    return out


def calibrate_model_folder(
    folder: Path | None,
    n_identities: int = 8,
    seed: int = 11,
    config: PreprocessConfig | None = None,
) -> dict[str, Any]:
    """Render, measure, calibrate and (with ``folder``) write ``quality.json``."""
    if folder is not None and config is None:
        from pedpain.assess.pipeline_config import preprocess_config

        config = preprocess_config(folder)
    rows = measure_samples(render_samples(n_identities, seed), config)
    thresholds = calibrate(rows)
    same, other = _identity_distances(rows)
    doc = {
        "thresholds": thresholds.to_dict(),
        "identity_distances": {
            "same_identity_max": float(same.max()) if same.size else None,
            "other_identity_min": float(other.min()) if other.size else None,
            "note": "reported only; phantom identities are blends of two source photos",
        },
        "calibration": {
            "samples": len(rows),
            "identities": n_identities,
            "seed": seed,
            "conditions": CONDITIONS,
            "result": evaluate_gate(rows, thresholds),
            "defaults_result": evaluate_gate(rows, QualityThresholds())["summary"],
        },
    }
    if folder is not None:
        from pedpain.models.bundle import write_quality

        write_quality(folder, doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    """``python -m pedpain.assess.calibrate MODEL [--identities N] [--seed S]``: calibrate
    and write MODEL/quality.json; prints the pass and refusal rates."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pedpain.assess.calibrate")
    parser.add_argument("model", type=Path, help="model folder to write quality.json into")
    parser.add_argument("--identities", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    doc = calibrate_model_folder(args.model, args.identities, args.seed)
    print(json.dumps({"thresholds": doc["thresholds"], **doc["calibration"]["result"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
