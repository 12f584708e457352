"""Clips: the expression rises and falls in episodes (onset, apex, offset), the head moves,
the camera sometimes loses the face, and a hand or a second face passes through."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from pedpain.data.phantom.confounders import (
    NONE,
    confounder_actions,
    confounder_track,
    draw_confounder,
)
from pedpain.data.phantom.expression import ACTION_NAMES, actions_for_level, combine, draw_gates
from pedpain.data.phantom.media import VideoFile
from pedpain.data.phantom.render import Camera, Look, Pose, render_frame

FPS = 25
SECONDS = 10.0
VIDEO_SIZE = (640, 480)


def expression_track(n: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Envelope 0-1 per frame made of 1-3 pain episodes, and each frame's phase
    (``rest``, ``onset``, ``apex``, ``offset``)."""
    env = np.zeros(n)
    phase = ["rest"] * n
    t = np.arange(n) / fps
    start = rng.uniform(0.3, 2.0)
    for _ in range(int(rng.integers(1, 4))):
        rise, hold, fall = rng.uniform(0.4, 1.5), rng.uniform(0.8, 2.5), rng.uniform(0.8, 2.0)
        peak = rng.uniform(0.75, 1.0)
        on = (t >= start) & (t < start + rise)
        ap = (t >= start + rise) & (t < start + rise + hold)
        off = (t >= start + rise + hold) & (t < start + rise + hold + fall)
        shape = np.zeros(n)
        shape[on] = (t[on] - start) / rise
        shape[ap] = 1.0
        shape[off] = 1.0 - (t[off] - start - rise - hold) / fall
        shape = 0.5 - 0.5 * np.cos(np.pi * shape)  # smooth ramps
        for i in np.where(peak * shape > env)[0]:
            phase[i] = "onset" if on[i] else "apex" if ap[i] else "offset"
        env = np.maximum(env, peak * shape)
        start += rise + hold + fall + rng.uniform(0.3, 2.5)
        if start > n / fps - 1.0:
            break
    return env, phase


def _wander(n: int, rng: np.random.Generator, amplitude: float, fps: float) -> np.ndarray:
    """Smooth head motion: two slow sinusoids of random phase."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for freq in (rng.uniform(0.05, 0.2), rng.uniform(0.3, 0.8)):
        out += amplitude * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6))
    return out


def render_video(
    look: Look,
    base_pose: Pose,
    camera: Camera,
    level: float,
    offsets: np.ndarray,
    rng: np.random.Generator,
    path: Path,
    seconds: float = SECONDS,
    fps: int = FPS,
    confounder_rng: np.random.Generator | None = None,
) -> list[dict[str, object]]:
    """Write one clip to ``path`` and return one truth row per frame.

    With ``confounder_rng`` the clip's pain actions are gated (:func:`draw_gates`) and a
    confounder drawn from that stream comes and goes on its own track, independent of the
    pain episodes; without it, the pain-only clip of the earlier phantom.
    """
    n = int(np.rint(seconds * fps))
    conf, strength = NONE, 0.0
    gates = None
    conf_env, conf_phase = np.zeros(n), np.zeros(n)
    if confounder_rng is not None:
        gates = draw_gates(confounder_rng)
        conf, strength = draw_confounder(confounder_rng, look.identity.age_months, rate=0.6)
        conf_env, conf_phase = confounder_track(conf, strength, n, fps, confounder_rng)
        if conf == "pacifier":
            from dataclasses import replace as _replace

            look = _replace(look, props=_replace(look.props, pacifier=True))
    env, phase = expression_track(n, fps, rng)
    roll = np.clip(base_pose.roll + _wander(n, rng, 6.0, fps), -20, 20)
    yaw = np.clip(base_pose.yaw + _wander(n, rng, 8.0, fps), -25, 25)
    pitch = np.clip(base_pose.pitch + _wander(n, rng, 3.0, fps), -12, 12)
    shift_x = _wander(n, rng, 0.04, fps)
    shift_y = _wander(n, rng, 0.03, fps)
    zoom = 1.0 + _wander(n, rng, 0.06, fps)
    # The camera swings off the face for a moment in most clips.
    lost = np.zeros(n)
    if rng.uniform() < 0.7 and n > 3 * fps:
        at, length = int(rng.integers(fps, n - fps)), int(rng.integers(2, 6))
        ramp = np.concatenate([[0.35, 0.75], np.ones(length), [0.75, 0.35]])
        lost[at : at + len(ramp)] = ramp[: n - at]
        direction = float(rng.choice([-1, 1]))
    else:
        direction = 1.0
    hand_on = np.zeros(n, bool)
    if look.props.hand is not None:
        a = int(rng.integers(0, max(1, n // 2)))
        hand_on[a : a + int(rng.integers(fps, 4 * fps))] = True
    second_on = np.zeros(n, bool)
    if look.props.second_face is not None:
        a = int(rng.integers(0, max(1, n // 2)))
        second_on[a : a + int(rng.integers(fps, 3 * fps))] = True
    extra_blur = rng.uniform(size=n) < 0.04

    writer = VideoFile(path, fps, (look.width, look.height))
    rows: list[dict[str, object]] = []
    try:
        for i in range(n):
            frame_level = level * (0.45 + 0.55 * env[i])
            pain = actions_for_level(frame_level, offsets, gates)
            on = conf_env[i] > 0.05
            actions = (
                combine(pain, confounder_actions(conf, float(conf_env[i]), float(conf_phase[i])))
                if on
                else pain
            )
            pose = replace(
                base_pose,
                roll=float(roll[i]),
                yaw=float(yaw[i]),
                pitch=float(pitch[i]),
                iod=float(base_pose.iod * zoom[i]),
                x=float(base_pose.x + shift_x[i] + direction * 0.75 * lost[i]),
                y=float(base_pose.y + shift_y[i]),
            )
            cam = replace(camera, blur=camera.blur + (1.8 if extra_blur[i] else 0.0))
            frame, truth = render_frame(
                look,
                actions,
                pose,
                cam,
                rng,
                hand=bool(hand_on[i]),
                second_face=bool(second_on[i]),
            )
            writer.write(frame)
            truth.pop("_mesh")
            rows.append(
                {
                    "frame_index": i,
                    "time_s": round(i / fps, 3),
                    "phase": phase[i],
                    "expression_level": round(float(frame_level), 4),
                    **{k: actions.as_dict()[k] for k in ACTION_NAMES},
                    "pspi": actions.pspi(),
                    "pain_pspi": pain.pspi(),
                    "confounder": conf if on else NONE,
                    "confounder_strength": round(float(conf_env[i]) if on else 0.0, 4),
                    **truth,
                    "face_visible": int(float(truth["face_inside"]) >= 0.6),  # type: ignore[arg-type]
                }
            )
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return rows
