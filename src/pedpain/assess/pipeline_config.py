"""The face preprocessing a model was trained with, read back from its folder.

``preprocessing.json`` is either a ``pedpain preprocess`` pack's meta (parameters under
``preprocess``) or the UNBC cache's record (the parameters at the top level). Either way
the assessment engine makes faces exactly as the training faces were made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pedpain.vision.config import PreprocessConfig


def preprocess_config(folder: Path) -> PreprocessConfig:
    path = folder / "preprocessing.json"
    doc: dict[str, Any] = {}
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8")) or {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            doc = {}
    params = doc.get("preprocess", doc) if isinstance(doc, dict) else {}
    try:
        return PreprocessConfig.from_dict(params if isinstance(params, dict) else {})
    except (TypeError, ValueError):
        return PreprocessConfig()
