"""MediaPipe's legacy solutions, loaded once, with one per-call cost removed.

``SolutionBase.process`` in mediapipe 0.10.21 builds a new ``namedtuple`` class for its
outputs on every call (about 0.35 ms, the price of a small face-mesh inference step on a
video frame). The class only depends on the graph's output stream names, so the same
class is reused: the namedtuple factory seen by that module is memoised. The results are
the same objects with the same fields; nothing else in MediaPipe is touched.
"""

from __future__ import annotations

import collections
import functools
import types
from typing import Any

_PATCHED = False


@functools.lru_cache(maxsize=32)
def _output_class(typename: str, fields: tuple[str, ...]) -> Any:
    return collections.namedtuple(typename, fields)


def _namedtuple(typename: str, field_names: Any, **kwargs: Any) -> Any:
    if kwargs or isinstance(field_names, str):
        return collections.namedtuple(typename, field_names, **kwargs)
    return _output_class(typename, tuple(field_names))


def mediapipe() -> Any:
    """The ``mediapipe`` module, with the output-class memo installed (once)."""
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
