"""Real model folders written by the real writer (``save_model_folder``), untrained:
for tests of the folder format that need no training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pedpain.models.bundle import build_from_meta, save_model_folder
from pedpain.models.registry import InputSpec
from pedpain.vision.config import PreprocessConfig


def model_meta(name: str = "tiny", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": "0.1.0",
        "stage": "source",
        "backbone": "resnet18",
        "input_spec": InputSpec(size=64, normalisation="per_image").to_dict(),
        "head_hidden": [8],
        "dropout": 0.1,
        "target": "pain",
        "target_max": 10.0,
        "pain_threshold": 4.0,
        "created": "2026-12-01T00:00:00+00:00",
        "subjects_train": ["P01"],
        "subjects_val": [],
        "subjects_test": ["P02"],
        **extra,
    }


def write_model_folder(folder: Path, name: str = "tiny", **extra: Any) -> Path:
    meta = model_meta(name, **extra)
    net = build_from_meta(meta)
    preprocessing = {"preprocess": PreprocessConfig(size=64).to_dict()}
    return save_model_folder(folder, net, meta, "name: tiny\n", preprocessing, {"n": 0}, "card")
