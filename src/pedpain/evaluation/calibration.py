"""Calibration of the pain probability: reliability curve, Brier score, expected
calibration error.

The probability is the ``probability`` column when the table has one (the model's
P(pain >= threshold)). Otherwise pedpain uses ``prediction / 10`` as a stand-in and says
so: a 0-10 intensity is not a probability, and its "calibration" only shows how the
score relates to the rate of pain at each score level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Calibration:
    source: str  # "probability column" or "prediction / 10"
    n: int
    brier: float
    ece: float  # expected calibration error: count-weighted |observed - predicted|
    bins: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n": self.n,
            "brier": self.brier,
            "ece": self.ece,
            "bins": self.bins,
        }


def reliability(
    probability: ArrayLike, truth: ArrayLike, n_bins: int = 10, source: str = "probability"
) -> Calibration:
    """Equal-width bins on [0, 1], closed on the right as in scikit-learn's
    ``calibration_curve`` ((0.1, 0.2]; the first bin includes 0). Each bin reports its
    range, count, mean predicted probability and observed share of pain; empty bins
    have null means."""
    p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    y = np.asarray(truth, dtype=bool).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], p)
    bins: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(n_bins):
        inside = which == b
        count = int(inside.sum())
        predicted = float(p[inside].mean()) if count else None
        observed = float(y[inside].mean()) if count else None
        if count:
            ece += count * abs(observed - predicted)  # type: ignore[operator]
        bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": count,
                "mean_predicted": predicted,
                "observed": observed,
            }
        )
    n = int(p.size)
    brier = float(np.mean((p - y) ** 2)) if n else float("nan")
    return Calibration(source=source, n=n, brier=brier, ece=ece / n if n else 0.0, bins=bins)
