"""The model registry: the model folders under ``PEDPAIN_HOME/models`` and which one is
active (the folder ``models/active`` links to, unless ``PEDPAIN_MODEL`` fixes one).

The web app, ``pedpain models`` and the study's promotion rule all read and switch the
active model through these functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.settings import Settings
from pedpain.models.bundle import (
    ACTIVE,
    CARD_FILE,
    META_FILE,
    METRICS_FILE,
    active_model_folder,
    is_complete,
    verify_model_folder,
)


def models_root(settings: Settings) -> Path:
    return Path(settings.home).resolve() / "models"


def active_folder(settings: Settings) -> Path | None:
    return active_model_folder(settings)


def list_models(settings: Settings) -> list[dict[str, Any]]:
    """Model folders under PEDPAIN_HOME/models (plus a fixed PEDPAIN_MODEL), newest first."""
    root = models_root(settings)
    folders: list[Path] = []
    if root.is_dir():
        folders = [
            p for p in root.iterdir() if p.name != ACTIVE and not p.is_symlink() and is_complete(p)
        ]
    active = active_folder(settings)
    if active is not None and active not in [f.resolve() for f in folders]:
        folders.append(active)
    out = []
    for folder in folders:
        meta = read_json(folder / META_FILE)
        metrics = read_json(folder / METRICS_FILE)
        card = folder / CARD_FILE
        out.append(
            {
                "id": folder.name,
                "folder": str(folder),
                "name": meta.get("name") or folder.name,
                "version": meta.get("version"),
                "backbone": meta.get("backbone"),
                "stage": meta.get("stage"),
                "created": meta.get("created"),
                "sha256": meta.get("sha256"),
                "synthetic_data": bool(meta.get("synthetic_data", False)),
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                "card": card.read_text(encoding="utf-8", errors="replace")[:20000]
                if card.is_file()
                else "",
                "active": active is not None and folder.resolve() == active,
            }
        )
    return sorted(out, key=lambda m: (not m["active"], str(m["created"] or "")), reverse=False)


def set_active(settings: Settings, model_id: str) -> Path:
    """Point PEDPAIN_HOME/models/active at the registered folder ``model_id``."""
    if settings.model is not None:
        raise UsageError("PEDPAIN_MODEL fixes the model: unset it to choose one here")
    ids = {
        m["id"]: m
        for m in list_models(settings)
        if Path(m["folder"]).parent == models_root(settings)
    }
    if model_id not in ids:
        raise UsageError("no such model in the registry")
    root = models_root(settings)
    try:
        verify_model_folder(root / model_id)
    except EnvironmentProblem as exc:
        raise UsageError(f"{exc}: it cannot be made active") from None
    tmp = root / f".active-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(model_id)  # relative: the data root can move
    os.replace(tmp, root / ACTIVE)
    return root / model_id


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
