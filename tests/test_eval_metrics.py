"""Every headline metric of `pedpain evaluate predictions`, recomputed independently with
scikit-learn, scipy, statsmodels and pingouin, to 1e-6."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    brier_score_loss,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
    roc_curve,
)
from statsmodels.stats.contingency_tables import mcnemar

from pedpain.evaluation.bootstrap import cluster_bootstrap_auc
from pedpain.evaluation.metrics import icc_pair, weighted_auc, youden

TOL = 1e-6


def known_table(seed: int = 11, subjects: int = 15, per_subject: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = np.repeat([f"P{i:02d}" for i in range(subjects)], per_subject)
    pain = np.clip(rng.uniform(0, 9, subject.size) + rng.normal(0, 1, subject.size), 0, 10)
    reference = np.round(pain)
    prediction = np.clip(pain + rng.normal(0, 1.5, pain.size), 0, 10).round(2)
    comparator = np.clip(np.round(pain + rng.normal(0, 1.2, pain.size)), 0, 10)
    probability = (1 / (1 + np.exp(-(prediction - 3)))).round(4)
    return pd.DataFrame(
        {
            "subject_id": subject,
            "reference": reference,
            "prediction": prediction,
            "comparator": comparator,
            "probability": probability,
        }
    )


def independent_delong_p(a, b, truth):
    pos, neg = np.flatnonzero(truth), np.flatnonzero(~truth)

    def components(s):
        psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (va10, va01), (vb10, vb01) = components(a), components(b)
    s10 = np.cov(np.vstack([va10, vb10]))
    s01 = np.cov(np.vstack([va01, vb01]))
    cov = s10 / pos.size + s01 / neg.size
    z = (va10.mean() - vb10.mean()) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return 2 * stats.norm.sf(abs(z))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return known_table()


@pytest.fixture
def evaluated(cli, table, tmp_path: Path):
    path = tmp_path / "known.csv"
    table.to_csv(path, index=False)
    result = cli(
        "evaluate",
        "predictions",
        path,
        "--out",
        tmp_path / "out",
        "--threshold",
        "4",
        "--bootstrap",
        "300",
        "--json",
    )
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_model_metrics_match_independent_libraries(evaluated, table):
    ref, pred = table["reference"].to_numpy(), table["prediction"].to_numpy()
    truth = ref >= 4
    tn, fp, fn, tp = confusion_matrix(truth, pred >= 4).ravel()
    icc = pg.intraclass_corr(
        pd.DataFrame(
            {
                "t": np.tile(np.arange(ref.size), 2),
                "r": np.repeat(["ref", "pred"], ref.size),
                "s": np.concatenate([ref, pred]),
            }
        ),
        "t",
        "r",
        "s",
    ).set_index("Type")
    expected = {
        "n": ref.size,
        "n_subjects": 15,
        "threshold": 4.0,
        "auc": roc_auc_score(truth, pred),
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "icc_3_1": icc.loc["ICC(C,1)", "ICC"],
        "icc_2_1": icc.loc["ICC(A,1)", "ICC"],
        "pcc": stats.pearsonr(ref, pred).statistic,
        "mse": mean_squared_error(ref, pred),
        "mae": mean_absolute_error(ref, pred),
    }
    for key, value in expected.items():
        assert evaluated[key] == pytest.approx(value, abs=TOL), key
    fpr, tpr, _ = roc_curve(truth, pred)
    assert evaluated["youden"]["j"] == pytest.approx(np.max(tpr - fpr), abs=TOL)
    diff = pred - ref
    agreement = evaluated["bland_altman"]
    assert agreement["bias"] == pytest.approx(diff.mean(), abs=TOL)
    assert agreement["loa_high"] == pytest.approx(diff.mean() + 1.96 * diff.std(ddof=1), abs=TOL)
    lo, hi = evaluated["auc_ci95"]
    assert lo < evaluated["auc"] < hi


def test_comparator_metrics_and_paired_tests_match(evaluated, table):
    ref = table["reference"].to_numpy()
    pred, comp = table["prediction"].to_numpy(), table["comparator"].to_numpy()
    truth = ref >= 4
    other = evaluated["comparator"]
    assert other["auc"] == pytest.approx(roc_auc_score(truth, comp), abs=TOL)
    assert other["mae"] == pytest.approx(mean_absolute_error(ref, comp), abs=TOL)
    assert other["pcc"] == pytest.approx(stats.pearsonr(ref, comp).statistic, abs=TOL)
    assert other["delong_p"] == pytest.approx(independent_delong_p(pred, comp, truth), abs=TOL)
    model_right, comp_right = (pred >= 4) == truth, (comp >= 4) == truth
    square = [
        [np.sum(model_right & comp_right), np.sum(model_right & ~comp_right)],
        [np.sum(~model_right & comp_right), np.sum(~model_right & ~comp_right)],
    ]
    assert other["mcnemar_p"] == pytest.approx(mcnemar(square, exact=True).pvalue, abs=TOL)
    for key in (
        "n",
        "n_subjects",
        "threshold",
        "auc_ci95",
        "sensitivity",
        "specificity",
        "icc_3_1",
        "icc_2_1",
        "mse",
    ):
        assert key in other


def test_calibration_matches_sklearn(evaluated, table):
    truth = table["reference"].to_numpy() >= 4
    prob = table["probability"].to_numpy()
    cal = evaluated["calibration"]
    assert cal["source"] == "probability column"
    assert cal["brier"] == pytest.approx(brier_score_loss(truth, prob), abs=TOL)
    observed, predicted = calibration_curve(truth, prob, n_bins=10, strategy="uniform")
    filled = [b for b in cal["bins"] if b["n"]]
    np.testing.assert_allclose([b["observed"] for b in filled], observed, atol=TOL)
    np.testing.assert_allclose([b["mean_predicted"] for b in filled], predicted, atol=TOL)


def icc_by_hand(x: np.ndarray) -> tuple[float, float]:
    """ICC(3,1), ICC(2,1) from sums of squares written out with loops (Shrout & Fleiss)."""
    n, k = x.shape
    grand = sum(sum(row) for row in x) / (n * k)
    ss_rows = sum(k * (sum(row) / k - grand) ** 2 for row in x)
    ss_cols = sum(n * (sum(x[i][j] for i in range(n)) / n - grand) ** 2 for j in range(k))
    ss_total = sum((x[i][j] - grand) ** 2 for i in range(n) for j in range(k))
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = (ss_total - ss_rows - ss_cols) / ((n - 1) * (k - 1))
    icc3 = (bms - ems) / (bms + (k - 1) * ems)
    icc2 = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    return icc3, icc2


def test_icc_matches_hand_computation_and_pingouin():
    # Small table worked through by hand: rows 1..6, the second rater reads 1 point high
    # on most cases.
    x = np.array([[1, 2], [2, 2], [3, 4], [5, 6], [6, 6], [8, 9]], dtype=float)
    icc3, icc2 = icc_by_hand(x)
    # By hand: grand mean 4.5; SS_rows 71, SS_cols 4/3, SS_total 73, SS_error 2/3;
    # BMS 14.2, JMS 4/3, EMS 2/15. ICC(3,1) = (14.2 - 2/15) / (14.2 + 2/15) = 211/215;
    # ICC(2,1) = (14.2 - 2/15) / (14.2 + 2/15 + 2 (4/3 - 2/15) / 6) = 211/221.
    assert icc3 == pytest.approx(211 / 215, abs=1e-12)
    assert icc2 == pytest.approx(211 / 221, abs=1e-12)
    got = icc_pair(x[:, 0], x[:, 1])
    assert got.icc_3_1 == pytest.approx(icc3, abs=1e-12)
    assert got.icc_2_1 == pytest.approx(icc2, abs=1e-12)
    long = pd.DataFrame({"t": np.repeat(range(6), 2), "r": ["a", "b"] * 6, "s": x.ravel()})
    ref = pg.intraclass_corr(long, "t", "r", "s").set_index("Type")
    assert got.icc_3_1 == pytest.approx(ref.loc["ICC(C,1)", "ICC"], abs=1e-12)
    assert got.icc_2_1 == pytest.approx(ref.loc["ICC(A,1)", "ICC"], abs=1e-12)
    np.testing.assert_allclose(got.icc_3_1_ci95, ref.loc["ICC(C,1)", "CI95"], atol=0.006)
    np.testing.assert_allclose(got.icc_2_1_ci95, ref.loc["ICC(A,1)", "CI95"], atol=0.006)


def test_weighted_auc_equals_sklearn_with_sample_weights():
    rng = np.random.default_rng(3)
    score = np.round(rng.normal(size=80), 1)
    truth = rng.random(80) < 0.4
    weight = rng.integers(0, 4, 80).astype(float)
    distinct, index = np.unique(score, return_inverse=True)
    got = weighted_auc(index, distinct.size, weight * truth, weight * ~truth)
    assert got == pytest.approx(roc_auc_score(truth, score, sample_weight=weight), abs=1e-12)


def test_cluster_bootstrap_equals_naive_resampling_of_subjects():
    table = known_table(seed=5, subjects=8, per_subject=5)
    truth = table["reference"].to_numpy() >= 4
    score = table["prediction"].to_numpy()
    subjects = table["subject_id"].to_numpy()
    got = cluster_bootstrap_auc(score, truth, subjects, n_resamples=150, seed=9)
    codes = np.unique(subjects)
    rng = np.random.default_rng(9)
    aucs = []
    for _ in range(150):
        drawn = codes[rng.integers(0, codes.size, codes.size)]
        rows = np.concatenate([np.flatnonzero(subjects == s) for s in drawn])
        if truth[rows].all() or not truth[rows].any():
            continue
        aucs.append(roc_auc_score(truth[rows], score[rows]))
    np.testing.assert_allclose(got.ci95, np.percentile(aucs, [2.5, 97.5]), atol=1e-12)
    assert got.n_valid == len(aucs)


def test_youden_prefers_the_highest_cut_among_ties():
    point = youden([1, 2, 3, 4], [False, False, True, True])
    assert (point.threshold, point.sensitivity, point.specificity) == (3.0, 1.0, 1.0)
