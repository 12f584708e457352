"""The assessment engines the web app shares between requests, and the model registry.

An :class:`~pedpain.assess.Assessor` is not thread-safe and slow to load, so the app keeps
a small pool and lends one to each assessment. The active model is the folder
``PEDPAIN_HOME/models/active`` links to (the same default ``pedpain assess`` uses) unless
``PEDPAIN_MODEL`` fixes one; switching it drains the pool.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

from pedpain.core.errors import EnvironmentProblem
from pedpain.core.settings import Settings
from pedpain.models.bundle import META_FILE

# The registry lives below the web layer (the study's promotion rule uses it too); these
# names stay importable from here for the pages and older callers.
from pedpain.models.catalog import (  # noqa: F401
    ACTIVE,
    active_folder,
    list_models,
    models_root,
    read_json,
    set_active,
)


class EnginePool:
    """Up to ``size`` loaded Assessors for the active model, lent one at a time."""

    def __init__(self, settings: Settings, size: int = 1) -> None:
        self.settings = settings
        self.size = max(1, size)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._sha: str | None = None

    def _current(self) -> tuple[Path, str]:
        folder = active_folder(self.settings)
        if folder is None:
            raise EnvironmentProblem("no active model: a researcher sets one in the model registry")
        return folder, str(read_json(folder / META_FILE).get("sha256"))

    def _borrow(self) -> Any:
        folder, sha = self._current()
        with self._lock:
            if (folder, sha) != (self._folder, self._sha):
                self._drain()
                self._folder, self._sha = folder, sha
            if self._idle.empty() and self._made < self.size:
                self._made += 1
                make = True
            else:
                make = False
        if make:
            from pedpain.assess import Assessor

            try:
                return Assessor(folder, home=Path(self.settings.home))
            except BaseException:
                with self._lock:
                    self._made -= 1
                raise
        return self._idle.get()

    def _drain(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()
            self._made -= 1

    def assess(self, item: Any, **kwargs: Any) -> Any:
        engine = self._borrow()
        try:
            return engine.assess(item, **kwargs)
        finally:
            if engine.folder.resolve() == self._folder:
                self._idle.put(engine)
            else:
                engine.close()
                with self._lock:
                    self._made -= 1

    def close(self) -> None:
        with self._lock:
            self._drain()
