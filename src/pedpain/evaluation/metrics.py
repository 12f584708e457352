"""Point metrics of a score against the reference, each returning None when undefined.

Conventions (docs/contract.md): binary truth is ``reference >= threshold``; a prediction
is positive when ``prediction >= threshold`` (the threshold may differ per row); the AUC
ranks by ``prediction``. Every function takes plain arrays on the 0-10 scale and returns
a float or None, never NaN: why a value is undefined is reported by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def _array(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def binary_truth(reference: ArrayLike, threshold: ArrayLike) -> np.ndarray:
    return _array(reference) >= _array(threshold)


def auc(score: ArrayLike, truth: ArrayLike) -> float | None:
    """Area under the ROC curve (Mann-Whitney with ties counted 1/2); None for one class."""
    positive = np.asarray(truth, dtype=bool)
    m = int(positive.sum())
    n = positive.size - m
    if m == 0 or n == 0:
        return None
    ranks = stats.rankdata(_array(score))
    return float((ranks[positive].sum() - m * (m + 1) / 2) / (m * n))


def weighted_auc(
    value_index: np.ndarray, n_values: int, weight_pos: np.ndarray, weight_neg: np.ndarray
) -> float | None:
    """AUC with case weights, from scores already coded as ranks of their distinct values.

    ``value_index`` maps each case to the rank of its score among the distinct scores, so
    the sort happens once and each bootstrap resample only changes the weights.
    """
    pos = np.bincount(value_index, weights=weight_pos, minlength=n_values)
    neg = np.bincount(value_index, weights=weight_neg, minlength=n_values)
    total_pos = pos.sum()
    total_neg = neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return None
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))


def sensitivity_specificity(
    called: ArrayLike, truth: ArrayLike
) -> tuple[float | None, float | None]:
    """Share of true positives called positive, and of true negatives called negative."""
    call = np.asarray(called, dtype=bool)
    positive = np.asarray(truth, dtype=bool)
    m = int(positive.sum())
    n = positive.size - m
    sens = float((call & positive).sum() / m) if m else None
    spec = float((~call & ~positive).sum() / n) if n else None
    return sens, spec


def confusion(called: ArrayLike, truth: ArrayLike) -> dict[str, int]:
    call = np.asarray(called, dtype=bool)
    positive = np.asarray(truth, dtype=bool)
    return {
        "tp": int((call & positive).sum()),
        "fn": int((~call & positive).sum()),
        "fp": int((call & ~positive).sum()),
        "tn": int((~call & ~positive).sum()),
    }


@dataclass(frozen=True)
class YoudenPoint:
    threshold: float
    sensitivity: float
    specificity: float
    j: float


def youden(score: ArrayLike, truth: ArrayLike) -> YoudenPoint | None:
    """The cut-off on ``score`` maximising sensitivity + specificity - 1 (``score >= cut``
    is positive). Ties go to the highest cut-off (fewest positive calls). Chosen on the
    same data it is reported on, so it is optimistic."""
    values = _array(score)
    positive = np.asarray(truth, dtype=bool)
    m = int(positive.sum())
    n = positive.size - m
    if m == 0 or n == 0:
        return None
    cuts, index = np.unique(values, return_inverse=True)
    pos = np.bincount(index, weights=positive.astype(float), minlength=cuts.size)
    neg = np.bincount(index, weights=(~positive).astype(float), minlength=cuts.size)
    # Calls positive at cut c: every case with score >= c, i.e. reverse cumulative sums.
    tp = np.cumsum(pos[::-1])[::-1]
    fp = np.cumsum(neg[::-1])[::-1]
    sens = tp / m
    spec = 1.0 - fp / n
    j = sens + spec - 1.0
    best = int(np.flatnonzero(j >= j.max() - 1e-12)[-1])
    return YoudenPoint(float(cuts[best]), float(sens[best]), float(spec[best]), float(j[best]))


@dataclass(frozen=True)
class IccResult:
    icc_3_1: float | None
    icc_3_1_ci95: tuple[float, float] | None
    icc_2_1: float | None
    icc_2_1_ci95: tuple[float, float] | None


def icc_pair(first: ArrayLike, second: ArrayLike) -> IccResult:
    """ICC(3,1) (two-way mixed, consistency, single measure) and ICC(2,1) (two-way random,
    absolute agreement, single measure) of two raters, from the two-way ANOVA mean squares
    (Shrout & Fleiss 1979; McGraw & Wong 1996), with their F-based 95% intervals.

    Same formulas as ``pingouin.intraclass_corr`` (tested against it); computed here with
    numpy because pingouin's ANOVA takes about a minute on 50,000 frames.
    """
    x = np.column_stack([_array(first), _array(second)])
    n, k = x.shape
    none = IccResult(None, None, None, None)
    if n < 3:
        return none
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    den3 = msr + (k - 1) * mse
    den2 = msr + (k - 1) * mse + k * (msc - mse) / n
    icc3 = (msr - mse) / den3 if den3 > 1e-300 else None
    icc2 = (msr - mse) / den2 if den2 > 1e-300 else None
    ci3 = ci2 = None
    if mse > 1e-300 and msr > 1e-300:
        df1, df2 = n - 1, (n - 1) * (k - 1)
        f_obs = msr / mse
        f_low = f_obs / stats.f.ppf(0.975, df1, df2)
        f_high = f_obs * stats.f.ppf(0.975, df2, df1)
        ci3 = ((f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1))
        if icc2 is not None:
            fj = msc / mse
            vn = df2 * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
            vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
            v = vn / vd if vd > 0 else math.nan
            if math.isfinite(v) and v > 0:
                fu = stats.f.ppf(0.975, n - 1, v)
                fl = stats.f.ppf(0.975, v, n - 1)
                base = k * msc + (k * n - k - n) * mse
                ci2 = (
                    n * (msr - fu * mse) / (fu * base + n * msr),
                    n * (fl * msr - mse) / (base + n * fl * msr),
                )
    return IccResult(_finite(icc3), _finite_pair(ci3), _finite(icc2), _finite_pair(ci2))


def pearson(first: ArrayLike, second: ArrayLike) -> float | None:
    """Pearson r; None when either series is constant or there are fewer than 3 cases."""
    a = _array(first)
    b = _array(second)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return _finite(float(stats.pearsonr(a, b).statistic))


def mse(prediction: ArrayLike, reference: ArrayLike) -> float:
    return float(np.mean((_array(prediction) - _array(reference)) ** 2))


def mae(prediction: ArrayLike, reference: ArrayLike) -> float:
    return float(np.mean(np.abs(_array(prediction) - _array(reference))))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _finite_pair(pair: tuple[float, float] | None) -> tuple[float, float] | None:
    if pair is None:
        return None
    low, high = _finite(pair[0]), _finite(pair[1])
    return (low, high) if low is not None and high is not None else None
