"""Agreement of a method with the reference: Bland-Altman, and McNemar's test for two
paired binary calls.

Bland-Altman (Lancet 1986): differences d = method - reference; bias = mean(d); limits of
agreement = bias +/- 1.96 SD(d) (SD with ddof=1). With several frames per child the rows
are not independent and the limits are only descriptive; the subject-level table gives
one row per child.

McNemar, exact form: of the cases where the two calls disagree, b are those only the
first method gets right and c those only the second gets right; under "equally good",
b ~ Binomial(b + c, 1/2), and p is the two-sided exact binomial p-value. With no
disagreement at all there is nothing to test and p is 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class BlandAltman:
    n: int
    bias: float | None
    sd: float | None
    loa_low: float | None
    loa_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bland_altman(method: ArrayLike, reference: ArrayLike) -> BlandAltman:
    diff = np.asarray(method, dtype=float) - np.asarray(reference, dtype=float)
    n = int(diff.size)
    if n == 0:
        return BlandAltman(0, None, None, None, None)
    bias = float(diff.mean())
    if n < 2:
        return BlandAltman(n, bias, None, None, None)
    sd = float(diff.std(ddof=1))
    return BlandAltman(n, bias, sd, bias - 1.96 * sd, bias + 1.96 * sd)


@dataclass(frozen=True)
class McNemar:
    only_first: int  # b: first method right, second wrong
    only_second: int  # c: second method right, first wrong
    p: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(first_right: ArrayLike, second_right: ArrayLike) -> McNemar:
    """Exact two-sided McNemar test on paired right/wrong outcomes of two methods."""
    a = np.asarray(first_right, dtype=bool)
    b = np.asarray(second_right, dtype=bool)
    only_first = int((a & ~b).sum())
    only_second = int((~a & b).sum())
    discordant = only_first + only_second
    if discordant == 0:
        return McNemar(0, 0, 1.0 if a.size else None)
    p = float(stats.binomtest(only_first, discordant, 0.5).pvalue)
    return McNemar(only_first, only_second, min(p, 1.0) if math.isfinite(p) else None)
