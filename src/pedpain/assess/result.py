"""The result of one assessment, as the contract's ``pedpain assess --json`` writes it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pedpain import DISCLAIMER

Status = Literal["ok", "abstain", "error"]


@dataclass
class AssessmentResult:
    """One assessment (a photo, a group of 1-3 photos, a clip, or a second of a stream).

    ``status``: ``ok`` (scored), ``abstain`` (readable, but no face good enough to score:
    ``score`` is None and ``reason`` says why), ``error`` (the input could not be read).
    ``score`` is pain intensity on 0-10; ``scale`` the same on the age-appropriate
    observer scale (None without an age) with ``needs_treatment`` from its threshold.
    """

    input: str
    kind: str  # image | images | video | stream
    status: Status
    reason: str = ""
    reason_code: str = ""
    score: float | None = None
    pain_probability: float | None = None
    scale: dict[str, Any] | None = None
    needs_treatment: bool | None = None
    frames_used: int = 0
    quality: dict[str, Any] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    #: Milliseconds per stage (decode, detect, landmarks, align, quality, model, pooling,
    #: explain); stages of a clip overlap on threads, so they may sum past latency_ms.
    timings_ms: dict[str, float] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    frame_scores: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self, frames: bool = False) -> dict[str, Any]:
        """The contract's JSON object (plus ``reason_code``, ``inputs`` and the
        disclaimer); ``frames=True`` adds the per-frame scores."""
        doc: dict[str, Any] = {
            "input": self.input,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason or None,
            "reason_code": self.reason_code or None,
            "score": _num(self.score, 2),
            "pain_probability": _num(self.pain_probability, 4),
            "scale": self.scale,
            "needs_treatment": self.needs_treatment,
            "frames_used": self.frames_used,
            "quality": self.quality,
            "explanation": self.explanation,
            "model": self.model,
            "latency_ms": round(self.latency_ms, 1),
            "timings_ms": self.timings_ms,
            "inputs": self.inputs or [self.input],
            "disclaimer": DISCLAIMER,
        }
        if frames:
            doc["frames"] = self.frame_scores
        return doc


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)
