"""DeLong's AUC covariance and paired test against a brute-force computation of the
structural components from the Mann-Whitney kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from pedpain.evaluation.delong import delong_ci, delong_components, delong_paired_test


def _kernel(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def brute_force(scores: np.ndarray, truth: np.ndarray):
    """DeLong 1988 directly: V10_i, V01_j as kernel means, S10/m + S01/n."""
    pos_idx = np.flatnonzero(truth)
    neg_idx = np.flatnonzero(~truth)
    m, n = len(pos_idx), len(neg_idx)
    k = scores.shape[0]
    v10 = np.array(
        [[np.mean([_kernel(s[i], s[j]) for j in neg_idx]) for i in pos_idx] for s in scores]
    )
    v01 = np.array(
        [[np.mean([_kernel(s[i], s[j]) for i in pos_idx]) for j in neg_idx] for s in scores]
    )
    aucs = v10.mean(axis=1)
    s10 = np.array(
        [
            [np.sum((v10[a] - aucs[a]) * (v10[b] - aucs[b])) / (m - 1) for b in range(k)]
            for a in range(k)
        ]
    )
    s01 = np.array(
        [
            [np.sum((v01[a] - aucs[a]) * (v01[b] - aucs[b])) / (n - 1) for b in range(k)]
            for a in range(k)
        ]
    )
    return aucs, v10, v01, s10 / m + s01 / n


def _data(seed: int, size: int = 40, ties: bool = True):
    rng = np.random.default_rng(seed)
    truth = rng.random(size) < 0.4
    truth[:2], truth[2:4] = True, False
    a = truth * 1.0 + rng.normal(0, 1, size)
    b = truth * 0.6 + rng.normal(0, 1, size)
    if ties:  # scores on a coarse grid, like integer pain scales
        a, b = np.round(a * 2) / 2, np.round(b * 2) / 2
    return np.vstack([a, b]), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_fast_components_equal_the_brute_force_ones(seed, ties):
    scores, truth = _data(seed, ties=ties)
    fast = delong_components(scores, truth)
    aucs, v10, v01, cov = brute_force(scores, truth)
    np.testing.assert_allclose(fast.aucs, aucs, atol=1e-12)
    np.testing.assert_allclose(fast.v10, v10, atol=1e-12)
    np.testing.assert_allclose(fast.v01, v01, atol=1e-12)
    np.testing.assert_allclose(fast.covariance, cov, atol=1e-12)
    for r in range(2):
        assert fast.aucs[r] == pytest.approx(roc_auc_score(truth, scores[r]), abs=1e-12)


def test_paired_test_matches_the_brute_force_z_test():
    scores, truth = _data(5, size=60)
    _, _, _, cov = brute_force(scores, truth)
    aucs = [roc_auc_score(truth, s) for s in scores]
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    expected_p = 2 * stats.norm.sf(abs((aucs[0] - aucs[1]) / se))
    test = delong_paired_test(scores[0], scores[1], truth)
    assert test.difference == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert test.se == pytest.approx(se, abs=1e-12)
    assert test.p == pytest.approx(expected_p, abs=1e-12)


def test_identical_scores_have_nothing_to_test():
    scores, truth = _data(3)
    test = delong_paired_test(scores[0], scores[0], truth)
    assert test.p == 1.0 and test.difference == 0.0


def test_confidence_interval_is_auc_plus_minus_1_96_se_clipped():
    scores, truth = _data(4)
    _, _, _, cov = brute_force(scores[:1], truth)
    auc, low, high = delong_ci(scores[0], truth)
    half = stats.norm.ppf(0.975) * np.sqrt(cov[0, 0])
    assert low == pytest.approx(max(0.0, auc - half), abs=1e-12)
    assert high == pytest.approx(min(1.0, auc + half), abs=1e-12)


def test_too_few_cases_of_a_class_gives_no_interval():
    assert delong_ci([0.1, 0.2, 0.3], [True, False, False]) is None
    with pytest.raises(ValueError):
        delong_components([0.1, 0.2, 0.3], [True, False, False])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=6, max_size=25))
def test_auc_from_midranks_equals_sklearn_for_any_tied_scores(pairs):
    scores = np.array([p[0] for p in pairs], dtype=float)
    truth = np.array([p[1] for p in pairs])
    if truth.sum() < 2 or (~truth).sum() < 2:
        return
    parts = delong_components(scores, truth)
    assert parts.aucs[0] == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
