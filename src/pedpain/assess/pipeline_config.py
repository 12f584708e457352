"""The face preprocessing a model was trained with, read back from its folder.

The model folder format (``pedpain.models.bundle``) owns ``preprocessing.json``; a
missing or damaged file is an environment problem, never replaced by defaults, so the
assessment engine always makes faces exactly as the training faces were made.
"""

from __future__ import annotations

from pathlib import Path

from pedpain.models.bundle import read_preprocessing
from pedpain.vision.config import PreprocessConfig


def preprocess_config(folder: Path) -> PreprocessConfig:
    return read_preprocessing(folder)
