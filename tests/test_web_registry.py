"""The model registry behind the web app: only intact model folders become active."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_folders import write_model_folder
from pedpain.core.errors import UsageError
from pedpain.core.settings import load_settings
from pedpain.web.engines import active_folder, list_models, set_active


def test_only_intact_models_can_be_made_active(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models = home / "models"
    for name, intact in (("good", True), ("bad", False)):
        folder = write_model_folder(models / name, name)
        if not intact:
            (folder / "model.pt").write_bytes(b"weights that do not match the checksum")
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'pedpain.db'}")
    assert {m["id"] for m in list_models(settings)} == {"good", "bad"}

    assert set_active(settings, "good") == models / "good"
    assert active_folder(settings) == (models / "good").resolve()
    with pytest.raises(UsageError, match="checksum"):
        set_active(settings, "bad")
    assert active_folder(settings) == (models / "good").resolve()  # unchanged
    (models / "good" / "model.pt").write_bytes(b"altered weights")
    with pytest.raises(UsageError, match="checksum"):
        set_active(settings, "good")
    with pytest.raises(UsageError, match="no such model"):
        set_active(settings, "../good")
