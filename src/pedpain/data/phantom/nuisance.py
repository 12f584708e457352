"""How much the nuisances vary: head pose, camera, occluders. One place to tune them."""

from __future__ import annotations

import numpy as np

from pedpain.data.phantom.render import Camera, Pose, Props

#: Head roll is drawn within +-ROLL_MAX degrees (the protocol's photos are frontal, but a
#: child in bed tilts its head).
ROLL_MAX = 20.0
YAW_MAX = 22.0
PITCH_MAX = 10.0


def sample_pose(rng: np.random.Generator, frame_h: int) -> Pose:
    return Pose(
        roll=float(np.clip(rng.normal(0, 8), -ROLL_MAX, ROLL_MAX)),
        yaw=float(np.clip(rng.normal(0, 9), -YAW_MAX, YAW_MAX)),
        pitch=float(np.clip(rng.normal(0, 4), -PITCH_MAX, PITCH_MAX)),
        iod=float(frame_h * rng.uniform(0.1, 0.17)),
        x=float(rng.uniform(0.4, 0.6)),
        y=float(rng.uniform(0.36, 0.46)),
    )


def jitter_pose(base: Pose, rng: np.random.Generator) -> Pose:
    """A new head pose near ``base`` (same bed, same camera distance, seconds later)."""
    return Pose(
        roll=float(np.clip(base.roll + rng.normal(0, 5), -ROLL_MAX, ROLL_MAX)),
        yaw=float(np.clip(base.yaw + rng.normal(0, 5), -YAW_MAX, YAW_MAX)),
        pitch=float(np.clip(base.pitch + rng.normal(0, 3), -PITCH_MAX, PITCH_MAX)),
        iod=float(base.iod * rng.uniform(0.93, 1.07)),
        x=float(base.x + rng.normal(0, 0.02)),
        y=float(base.y + rng.normal(0, 0.015)),
    )


def sample_camera(rng: np.random.Generator, video: bool = False) -> Camera:
    wb = rng.normal(1.0, 0.06, 3).clip(0.85, 1.15)
    blur = float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.5, 2.2)]))
    return Camera(
        gain=float(rng.uniform(0.8, 1.15)),
        gamma=float(rng.uniform(0.85, 1.2)),
        white_balance=(float(wb[0]), float(wb[1]), float(wb[2])),
        blur=blur,
        noise=float(rng.uniform(1.0, 6.0)),
        jpeg_quality=int(rng.integers(60, 96)) if not video else 0,
    )


def sample_props(rng: np.random.Generator, age_months: int, experimental: bool) -> Props:
    """Occluders of a ward: pacifiers for the youngest, oxygen and feeding tubes after
    surgery, sometimes a hand; a parent or nurse in the picture now and then."""
    pacifier = age_months < 36 and rng.uniform() < 0.3
    cannula = experimental and rng.uniform() < 0.15
    ng = int(rng.choice([-1, 1])) if experimental and rng.uniform() < 0.1 else 0
    hand = None
    if rng.uniform() < 0.12:
        hand = (
            float(rng.choice([-1, 1]) * rng.uniform(0.9, 1.3)),
            float(rng.uniform(0.3, 1.0)),
            float(rng.uniform(-0.6, 0.6)),
            float(rng.uniform(0.5, 0.7)),
        )
    second = None
    if rng.uniform() < 0.08:
        second = (float(rng.choice([0.12, 0.88])), float(rng.uniform(0.25, 0.4)), 0.7)
    return Props(pacifier=pacifier, cannula=cannula, ng_tube=ng, hand=hand, second_face=second)
