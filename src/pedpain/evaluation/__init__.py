"""Evaluation: metrics, statistics, plots and the report, from a table of predictions.

>>> from pedpain.evaluation import evaluate_predictions, Protocol
>>> result = evaluate_predictions(df, "out/", protocol=Protocol(split="LOSO"))  # doctest: +SKIP
"""

from pedpain.evaluation.api import (
    DEFAULT_THRESHOLD,
    EvaluationResult,
    Protocol,
    evaluate_predictions,
    evaluate_predictions_csv,
)
from pedpain.evaluation.table import REQUIRED, read_predictions

__all__ = [
    "DEFAULT_THRESHOLD",
    "REQUIRED",
    "EvaluationResult",
    "Protocol",
    "evaluate_predictions",
    "evaluate_predictions_csv",
    "read_predictions",
]
