"""Which face is the child's when several are in view: named policies, pure functions.

- ``largest``: the biggest face box.
- ``center``: the face nearest the image centre.
- ``consistent`` (default): the face that continues the subject seen in earlier frames of
  the clip (nearest to where the subject last was, in face widths); with no history
  (a photo, a clip's first face) it is the largest. A face that turns up far from the
  subject while the subject was seen less than ``memory_frames`` ago is flagged as the
  wrong face (a parent, a nurse) instead of being taken for the child.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pedpain.vision.detect import Detection


@dataclass(frozen=True)
class Subject:
    """Where the subject's face was last seen: centre, width, and the frame number."""

    cx: float
    cy: float
    width: float
    frame: int


def choose_face(
    dets: list[Detection],
    policy: str,
    image_size: tuple[int, int],
    subject: Subject | None = None,
    frame: int = 0,
    jump: float = 1.5,
    memory_frames: int = 50,
) -> tuple[int, bool]:
    """(index of the chosen detection, whether it is the wrong face)."""
    if not dets:
        raise ValueError("no detections to choose from")
    if policy == "largest" or (policy == "consistent" and subject is None):
        return max(range(len(dets)), key=lambda i: dets[i].area), False
    if policy == "center":
        w, h = image_size
        return min(
            range(len(dets)),
            key=lambda i: math.hypot(dets[i].centre[0] - w / 2, dets[i].centre[1] - h / 2),
        ), False
    if policy == "consistent":
        assert subject is not None

        def distance(i: int) -> float:
            cx, cy = dets[i].centre
            return math.hypot(cx - subject.cx, cy - subject.cy) / max(subject.width, 1.0)

        best = min(range(len(dets)), key=distance)
        recent = frame - subject.frame <= memory_frames
        return best, bool(recent and distance(best) > jump)
    raise ValueError(f"unknown face policy {policy!r}")
