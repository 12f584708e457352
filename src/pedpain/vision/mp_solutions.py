"""MediaPipe's legacy solutions, loaded once, with one per-call cost removed.

``SolutionBase.process`` in mediapipe 0.10.21 builds a new ``namedtuple`` class on every
call (about 0.35 ms, close to a tenth of a face-mesh step on a video frame), sets the
outputs as attributes of that class and returns the class itself. The module's
``collections.namedtuple`` is replaced, for that module alone, by a factory of fresh
``SimpleNamespace`` objects: each call still gets its own independent result object
with the same attribute names and values, without a class being compiled.

``quiet(factory)`` builds a solution while MediaPipe's C++ start-up chatter ("Created
TensorFlow Lite XNNPACK delegate", "Feedback manager requires a model with a single
signature"), written straight to file descriptor 2, goes to /dev/null instead. Python
exceptions still propagate; with ``--debug`` (the pedpain logger at DEBUG) nothing is
hidden.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_PATCHED = False


def _namedtuple(typename: str, field_names: Any, **kwargs: Any) -> Any:
    if kwargs or isinstance(field_names, str):
        return collections.namedtuple(typename, field_names, **kwargs)
    return types.SimpleNamespace(**dict.fromkeys(field_names))


def mediapipe() -> Any:
    """The ``mediapipe`` module, with the light result objects installed (once)."""
    global _PATCHED
    import mediapipe as mp

    if not _PATCHED:
        from mediapipe.python import solution_base

        if isinstance(getattr(solution_base, "collections", None), types.ModuleType):
            proxy = types.SimpleNamespace(**vars(collections))
            proxy.namedtuple = _namedtuple
            solution_base.collections = proxy
        _PATCHED = True
    return mp


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block (C++ writes included)."""
    if logging.getLogger("pedpain").isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class QuietSolution:
    """A MediaPipe solution started (and restarted by ``reset``) with stderr silenced.

    MediaPipe opens its calculators, loading the models, in its own threads after the
    graph starts, and warns once when it first projects landmarks. A warm-up frame (a
    small black image: nothing is found, so no tracking state is left) makes the graph
    wait for every calculator before the silence ends, so the chatter cannot leak out
    later; ``process`` stays silenced until a call has found something."""

    _WARM_UP = np.zeros((64, 64, 3), dtype=np.uint8)

    def __init__(self, solution: Any) -> None:
        self._solution = solution
        self._found_once = False

    def process(self, image: Any) -> Any:
        if self._found_once:
            return self._solution.process(image)
        # The first face found logs a one-off projection warning: silence until then.
        with native_stderr_silenced():
            result = self._solution.process(image)
        self._found_once = any(value is not None for value in vars(result).values())
        return result

    def warm_up(self) -> None:
        self._solution.process(self._WARM_UP)

    def reset(self) -> None:
        with native_stderr_silenced():
            self._solution.reset()
            self.warm_up()

    def __getattr__(self, name: str) -> Any:  # close, ...
        return getattr(self._solution, name)


def quiet(factory: Callable[[], Any]) -> QuietSolution:
    """``factory()`` (e.g. ``lambda: mp.solutions.face_mesh.FaceMesh(...)``) built and
    warmed up with native stderr silenced."""
    with native_stderr_silenced():
        solution = QuietSolution(factory())
        solution.warm_up()
    return solution
