"""Subject-level (cluster) bootstrap of the AUC and of a paired AUC difference.

Frames, clips and sessions of one child are correlated: resampling rows as if they were
independent gives intervals that are too narrow. Here whole subjects are drawn with
replacement (each draw keeps all of that child's rows), the AUC is recomputed with each
row weighted by how often its subject was drawn, and the 2.5th and 97.5th percentiles of
the resampled AUCs form the interval (percentile method). Resamples that contain only one
class are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pedpain.evaluation.metrics import weighted_auc

#: Below this many subjects a subject-level interval says nothing: it is reported as null.
MIN_SUBJECTS = 3
#: Below this many usable resamples the percentiles are too unstable to report.
MIN_VALID_RESAMPLES = 100


@dataclass(frozen=True)
class BootstrapResult:
    ci95: tuple[float, float] | None
    difference_ci95: tuple[float, float] | None  # score_a minus score_b, when b given
    n_resamples: int
    n_valid: int
    n_subjects: int
    reason: str | None  # why the interval is null, if it is


def cluster_bootstrap_auc(
    score: ArrayLike,
    truth: ArrayLike,
    subjects: ArrayLike,
    n_resamples: int = 2000,
    seed: int = 0,
    other_score: ArrayLike | None = None,
) -> BootstrapResult:
    """Percentile 95% interval of the AUC (and of AUC(score) - AUC(other_score) on the same
    resamples) with subjects as the resampling unit."""
    positive = np.asarray(truth, dtype=bool)
    subject_codes, subject_index = np.unique(np.asarray(subjects), return_inverse=True)
    n_subjects = subject_codes.size
    if n_resamples <= 0:
        return BootstrapResult(None, None, 0, 0, n_subjects, "bootstrap not requested")
    if n_subjects < MIN_SUBJECTS:
        return BootstrapResult(
            None,
            None,
            n_resamples,
            0,
            n_subjects,
            f"fewer than {MIN_SUBJECTS} subjects: no subject-level interval",
        )
    coded = [_code(np.asarray(score, dtype=float))]
    if other_score is not None:
        coded.append(_code(np.asarray(other_score, dtype=float)))
    pos_mask = positive.astype(float)
    neg_mask = 1.0 - pos_mask
    rng = np.random.default_rng(seed)
    values: list[list[float]] = [[] for _ in coded]
    for _ in range(n_resamples):
        drawn = np.bincount(rng.integers(0, n_subjects, n_subjects), minlength=n_subjects)
        weight = drawn[subject_index].astype(float)
        results = [
            weighted_auc(idx, size, weight * pos_mask, weight * neg_mask) for idx, size in coded
        ]
        if any(r is None for r in results):
            continue
        for store, result in zip(values, results, strict=True):
            store.append(float(result))  # type: ignore[arg-type]
    n_valid = len(values[0])
    if n_valid < MIN_VALID_RESAMPLES:
        return BootstrapResult(
            None,
            None,
            n_resamples,
            n_valid,
            n_subjects,
            f"only {n_valid} of {n_resamples} resamples held both classes",
        )
    first = np.asarray(values[0])
    ci = _percentiles(first)
    diff = _percentiles(first - np.asarray(values[1])) if other_score is not None else None
    return BootstrapResult(ci, diff, n_resamples, n_valid, n_subjects, None)


def _code(score: np.ndarray) -> tuple[np.ndarray, int]:
    distinct, index = np.unique(score, return_inverse=True)
    return index, distinct.size


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
