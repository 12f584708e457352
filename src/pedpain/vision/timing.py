"""Where the time of one assessment went, stage by stage.

Stages of the clip pipeline run on different threads at the same time (the reader
decodes while the face stage works and the model scores the previous batch), so each
stage's total is the time spent inside it, and the totals may add up to more than the
assessment's wall-clock latency: that surplus is the overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: The stages in report order; any other name is reported after them.
STAGES = ("decode", "detect", "landmarks", "align", "quality", "model", "pooling", "explain")


class StageTimes:
    """Seconds spent per stage, added from any thread."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + seconds

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def seconds(self, stage: str) -> float:
        with self._lock:
            return self._seconds.get(stage, 0.0)

    def ms(self) -> dict[str, float]:
        """Milliseconds per stage (every known stage, 0 when it did not run), rounded."""
        with self._lock:
            snapshot = dict(self._seconds)
        names = [*STAGES, *sorted(k for k in snapshot if k not in STAGES)]
        return {k: round(snapshot.get(k, 0.0) * 1000, 2) for k in names}
