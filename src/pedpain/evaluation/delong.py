"""DeLong's nonparametric AUC variance and the paired test for two correlated AUCs.

DeLong, DeLong & Clarke-Pearson (Biometrics 1988) write each AUC as the mean of the
Mann-Whitney kernel psi(X, Y) over (positive X, negative Y) pairs, with psi = 1 if X > Y,
1/2 if X == Y, 0 otherwise. The structural components are, for each positive i,
V10_i = mean_j psi(X_i, Y_j), and for each negative j, V01_j = mean_i psi(X_i, Y_j). The
covariance of two AUCs on the same cases is S10/m + S01/n, with S10 and S01 the sample
covariances (ddof=1) of the components over positives (m of them) and negatives (n).

The components are computed with midranks as in Sun & Xu (IEEE Signal Processing
Letters 2014): V10_i = (Tz_i - Tx_i) / n and V01_j = 1 - (Tz_j - Ty_j) / m, where Tz is the
midrank within all cases, Tx within positives and Ty within negatives. This is
O(N log N) instead of the O(m n) pairwise kernel, and gives identical values.

DeLong treats every row as an independent case: with several frames per child it is
optimistic, which is why pedpain's headline interval is a subject-level bootstrap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class DelongComponents:
    """AUCs of k scores on the same cases and their DeLong covariance matrix (k x k)."""

    aucs: np.ndarray
    covariance: np.ndarray
    v10: np.ndarray  # (k, m) components of the positives
    v01: np.ndarray  # (k, n) components of the negatives


@dataclass(frozen=True)
class DelongTest:
    auc_a: float
    auc_b: float
    difference: float  # auc_a - auc_b
    se: float
    z: float | None
    p: float | None


def delong_components(scores: ArrayLike, truth: ArrayLike) -> DelongComponents:
    """Structural components and covariance for scores of shape (k, N) or (N,).

    Needs at least two positives and two negatives (the covariances use ddof=1).
    """
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    positive = np.asarray(truth, dtype=bool)
    if matrix.shape[1] != positive.shape[0]:
        raise ValueError("scores and truth differ in length")
    m = int(positive.sum())
    n = int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError("DeLong needs at least two positive and two negative cases")
    pos = matrix[:, positive]
    neg = matrix[:, ~positive]
    k = matrix.shape[0]
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    for r in range(k):
        tx = stats.rankdata(pos[r])
        ty = stats.rankdata(neg[r])
        tz = stats.rankdata(np.concatenate([pos[r], neg[r]]))
        v10[r] = (tz[:m] - tx) / n
        v01[r] = 1.0 - (tz[m:] - ty) / m
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return DelongComponents(aucs=aucs, covariance=s10 / m + s01 / n, v10=v10, v01=v01)


def delong_ci(
    score: ArrayLike, truth: ArrayLike, level: float = 0.95
) -> tuple[float, float, float] | None:
    """(auc, low, high): normal-approximation interval from DeLong's variance, clipped to
    [0, 1]. None when fewer than two cases of either class."""
    try:
        parts = delong_components(score, truth)
    except ValueError:
        return None
    auc = float(parts.aucs[0])
    se = math.sqrt(max(float(parts.covariance[0, 0]), 0.0))
    half = float(stats.norm.ppf(0.5 + level / 2)) * se
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def delong_paired_test(score_a: ArrayLike, score_b: ArrayLike, truth: ArrayLike) -> DelongTest:
    """Two-sided test of AUC(a) == AUC(b) for two scores of the same cases.

    When the difference has zero variance (for example identical scores) there is nothing
    to test: p is 1.0 if the AUCs are equal, else undefined (None).
    """
    parts = delong_components(np.vstack([np.asarray(score_a), np.asarray(score_b)]), truth)
    cov = parts.covariance
    difference = float(parts.aucs[0] - parts.aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(variance, 0.0))
    if se <= 1e-15:
        same = abs(difference) <= 1e-15
        return DelongTest(
            float(parts.aucs[0]),
            float(parts.aucs[1]),
            difference,
            0.0,
            None,
            1.0 if same else None,
        )
    z = difference / se
    p = float(2 * stats.norm.sf(abs(z)))
    return DelongTest(float(parts.aucs[0]), float(parts.aucs[1]), difference, se, z, p)
