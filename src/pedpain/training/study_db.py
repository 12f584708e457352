"""Recording trained models in the study database, so a consent withdrawal lists them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pedpain.core.errors import PedpainError
from pedpain.core.logging import get_logger
from pedpain.core.settings import Settings

log = get_logger(__name__)


def record_in_study_database(
    settings: Settings,
    labels: str | Path,
    name: str,
    out: Path,
    model_folders: Iterable[Path],
    actor: str | None = None,
) -> int | None:
    """When ``labels`` is a manifest exported from the database ``settings`` points at,
    record the model there with every child whose data it used (training, validation and
    test: the test children's codes and scores are in its predictions). Returns the model
    run's id; None, with nothing recorded and nothing failing, without such a database
    or when the labels came from elsewhere."""
    from pedpain.models.bundle import read_model_meta
    from pedpain.store import open_store
    from pedpain.store.derived import register_trained_model
    from pedpain.store.engine import database_url

    url = database_url(settings)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None  # no study database here: do not create one
    try:
        codes = {
            str(code)
            for folder in model_folders
            for key in ("subjects_train", "subjects_val", "subjects_test")
            for code in read_model_meta(folder).get(key) or []
        }
        with open_store(settings, actor=actor) as store:
            return register_trained_model(store, labels, name, out, codes)
    except (PedpainError, OSError) as exc:
        log.warning("the model was not recorded in the study database: %s", exc)
        return None
