"""Expressions that share cues with pain and are not pain, drawn independently of pain.

A ward is full of them: smiling and laughing (AU6 + AU12, the cheek raise that PSPI also
counts), yawning and talking (mouth open without brow or lid action), sleeping (AU43
alone), a concentration frown (AU4 alone), sucking on a pacifier, and short crying without
pain (at separation from a parent: open mouth and raised inner brows rather than a lowered
brow and a nose wrinkle). Each photo and each clip draws one (or none) with
:func:`draw_confounder`, from its own random stream, so the confounder says nothing
about the child's pain; pain and confounder then combine action by action
(:func:`pedpain.data.phantom.expression.combine`).

The truth files record the confounder, its strength, the PSPI of the pain expression
alone (``pain_pspi``) and the PSPI of the whole face (``pspi``, which a FACS coder would
write: a smile's AU6 counts).
"""

from __future__ import annotations

import numpy as np

from pedpain.data.phantom.expression import ActionUnits

CONFOUNDERS = (
    "smile",
    "laugh",
    "yawn",
    "talk",
    "sleep",
    "frown",
    "pacifier",
    "cry_no_pain",
)
NONE = "none"
#: Share of photos and clips that show a confounder.
CONFOUNDER_RATE = 0.5


def allowed(age_months: int) -> tuple[str, ...]:
    """Confounders that fit a child's age: no speech before about 18 months, pacifiers
    up to 3 years, no social smile in the first 2 months."""
    out = []
    for name in CONFOUNDERS:
        if name == "talk" and age_months < 18:
            continue
        if name == "pacifier" and age_months >= 36:
            continue
        if name in ("smile", "laugh") and age_months < 2:
            continue
        out.append(name)
    return tuple(out)


def draw_confounder(
    rng: np.random.Generator, age_months: int, rate: float = CONFOUNDER_RATE
) -> tuple[str, float]:
    """(name, strength 0.4-1.0) or ("none", 0.0)."""
    if rng.uniform() >= rate:
        return NONE, 0.0
    names = allowed(age_months)
    return str(names[int(rng.integers(0, len(names)))]), float(rng.uniform(0.4, 1.0))


def confounder_actions(name: str, strength: float, phase: float = 0.0) -> ActionUnits:
    """The confounder's own actions at ``strength`` (0-1). ``phase`` (radians) moves the
    mouth of talking, laughing and sucking from frame to frame in clips."""
    s = float(np.clip(strength, 0.0, 1.0))
    if name == NONE or s <= 0:
        return ActionUnits()
    wave = 0.5 + 0.5 * np.sin(phase)
    if name == "smile":
        return ActionUnits(au6=2.6 * s, au12=4.0 * s)
    if name == "laugh":
        return ActionUnits(au6=4.0 * s, au7=1.2 * s, au12=4.8 * s, jaw=(1.6 + 1.4 * wave) * s)
    if name == "yawn":
        return ActionUnits(au43=0.55 * s, au1=0.8 * s, jaw=5.0 * s)
    if name == "talk":
        return ActionUnits(jaw=(0.4 + 2.0 * wave) * s, au12=0.6 * s)
    if name == "sleep":
        return ActionUnits(au43=min(1.0, 0.7 + 0.4 * s))
    if name == "frown":
        return ActionUnits(au4=(1.5 + 2.5 * s), au7=0.4 * s)
    if name == "pacifier":
        # The lips close round the teat and pull a little: a small pursing, no pain cue.
        return ActionUnits(jaw=0.3 + 0.3 * wave * s)
    if name == "cry_no_pain":
        return ActionUnits(au1=3.5 * s, au6=1.0 * s, mouth=3.2 * s, au43=0.2 * s)
    raise ValueError(f"unknown confounder {name!r}")


def confounder_track(
    name: str, strength: float, n: int, fps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame strength and mouth phase of a confounder in a clip: sleep lasts the
    whole clip, a yawn is one 3-5 s episode, the others come and go in episodes."""
    env = np.zeros(n)
    t = np.arange(n) / fps
    if name == NONE:
        return env, np.zeros(n)
    if name in ("sleep", "pacifier"):
        env[:] = strength
    elif name == "yawn":
        start = rng.uniform(0, max(0.1, n / fps - 3.0))
        length = rng.uniform(3.0, 5.0)
        x = np.clip((t - start) / length, 0, 1)
        env = strength * np.sin(np.pi * x) ** 2
    else:
        start = rng.uniform(0, 1.5)
        while start < n / fps:
            length = rng.uniform(1.0, 3.5)
            x = np.clip((t - start) / length, 0, 1)
            env = np.maximum(env, strength * np.sin(np.pi * x) ** 0.5 * (x > 0) * (x < 1))
            start += length + rng.uniform(0.5, 3.0)
    # Syllables about 4 per second, laughter 5, sucking 1.5.
    rate = {"talk": 4.0, "laugh": 5.0, "pacifier": 1.5}.get(name, 0.0)
    phase = 2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi) + 0.8 * np.sin(1.3 * t)
    return env, phase
