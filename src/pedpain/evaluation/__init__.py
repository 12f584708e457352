"""Evaluation: metrics, statistics, plots and the report, from a table of predictions.

>>> from pedpain.evaluation import evaluate_predictions, Protocol
>>> result = evaluate_predictions(df, "out/", protocol=Protocol(split="LOSO"))  # doctest: +SKIP

The names below are loaded on first use: the evaluation pulls in scikit-learn, SciPy
and Matplotlib (about 2 s), which every ``pedpain`` command would otherwise pay at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pedpain.evaluation.api import (
        EvaluationResult,
        Protocol,
        evaluate_predictions,
        evaluate_predictions_csv,
    )
    from pedpain.evaluation.defaults import DEFAULT_THRESHOLD
    from pedpain.evaluation.table import REQUIRED, read_predictions

_WHERE = {
    "DEFAULT_THRESHOLD": "pedpain.evaluation.defaults",
    "EvaluationResult": "pedpain.evaluation.api",
    "Protocol": "pedpain.evaluation.api",
    "evaluate_predictions": "pedpain.evaluation.api",
    "evaluate_predictions_csv": "pedpain.evaluation.api",
    "REQUIRED": "pedpain.evaluation.table",
    "read_predictions": "pedpain.evaluation.table",
}

__all__ = [
    "DEFAULT_THRESHOLD",
    "REQUIRED",
    "EvaluationResult",
    "Protocol",
    "evaluate_predictions",
    "evaluate_predictions_csv",
    "read_predictions",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
