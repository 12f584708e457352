"""Where an experiment's faces come from (the ``data`` section of a training config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: ``unbc``: a UNBC-McMaster tree (``root``), faces aligned with its own landmarks.
    #: ``faces``: a pedpain preprocess output (``root``) joined to a labels table (``labels``).
    kind: Literal["unbc", "faces"] = "unbc"
    root: Path | None = None
    labels: Path | None = None
    #: The target: ``pspi`` (0-16, UNBC) or ``pain`` (0-10, children's normalised score).
    target: Literal["pspi", "pain"] = "pspi"
    #: A frame counts as "pain" when its target is at or above this (PSPI > 0 -> 1).
    pain_threshold: float = 1.0
    #: Keep at most this many frames per sequence/clip (evenly spaced); 0 keeps all.
    max_frames_per_clip: int = Field(default=0, ge=0)
    #: Where the aligned, packed faces of a ``unbc`` tree are cached.
    cache: Path | None = None
