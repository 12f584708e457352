"""Aggregation levels, folds, subgroups and the committed example table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pedpain.evaluation import evaluate_predictions
from pedpain.evaluation.example import example_predictions
from pedpain.evaluation.subgroups import age_band

EXAMPLE = Path(__file__).resolve().parents[1] / "docs/examples/predictions_example.csv"


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return example_predictions(n_subjects=24)


@pytest.fixture(scope="module")
def result(example):
    return evaluate_predictions(example, n_bootstrap=100)


def test_committed_example_is_the_generator_output():
    committed = pd.read_csv(EXAMPLE)
    pd.testing.assert_frame_equal(committed, example_predictions(), check_dtype=False)


def test_subject_level_is_the_mean_of_each_childs_rows(result, example):
    level = result.document["levels"]["subject"]
    means = example.groupby("subject_id")[["reference", "prediction"]].mean()
    assert level["n"] == 24 and level["n_subjects"] == 24
    truth = means["reference"] >= 3.0
    assert level["auc"] == pytest.approx(roc_auc_score(truth, means["prediction"]), abs=1e-9)
    assert set(result.document["levels"]) == {"frame", "clip", "session", "subject"}
    assert result.document["levels"]["session"]["n"] == 72


def test_folds_summary_mean_sd_and_pooled(result, example):
    folds = result.document["folds"]
    assert folds["split"] == "4-fold subject-wise" and folds["n_folds"] == 4
    per_fold = [
        roc_auc_score(part["reference"] >= 3, part["prediction"])
        for _, part in example.groupby("fold")
    ]
    assert folds["mean"]["auc"] == pytest.approx(np.mean(per_fold), abs=1e-9)
    assert folds["sd"]["auc"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-9)
    assert folds["pooled"]["auc"] == result.document["auc"]


def test_loso_and_identity_leak_are_named():
    frame = example_predictions(n_subjects=6)
    frame["fold"] = frame["subject_id"]
    doc = evaluate_predictions(frame, n_bootstrap=0).document
    assert doc["folds"]["split"].startswith("leave-one-subject-out")
    assert doc["protocol"]["split"].startswith("leave-one-subject-out")
    frame["fold"] = np.arange(len(frame)) % 3  # frames of a child in several folds
    doc = evaluate_predictions(frame, n_bootstrap=0).document
    assert "NOT subject-wise" in doc["folds"]["split"]
    assert any("leaks identity" in w for w in doc["warnings"])


def test_small_subgroups_are_null_with_a_warning(result):
    bands = result.document["subgroups"]["age_band"]
    small = [entry for entry in bands.values() if entry["n_subjects"] < 10]
    assert small
    for entry in small:
        assert entry["auc"] is None and entry["mae"] is None and "fewer than 10" in entry["warning"]
    sexes = result.document["subgroups"]["sex"]
    assert all(entry["auc"] is not None for entry in sexes.values())
    assert sum(entry["n"] for entry in sexes.values()) == result.document["n"]


def test_age_bands_follow_table_1():
    assert [age_band(m) for m in (0, 11, 12, 71, 72, 167, 168)] == [
        "under 1 y",
        "under 1 y",
        "1-5 y",
        "1-5 y",
        "6-13 y",
        "6-13 y",
        "14 y and over",
    ]
    assert age_band(float("nan")) == "unknown"


def test_comparator_missing_in_some_rows_uses_the_pairs(example):
    frame = example.copy()
    frame.loc[frame.index[:20], "comparator"] = np.nan
    doc = evaluate_predictions(frame, n_bootstrap=0).document
    assert doc["n"] == len(frame) and doc["comparator"]["n"] == len(frame) - 20
    assert any("comparator missing in 20" in w for w in doc["warnings"])


def test_probability_falls_back_to_prediction_over_ten(example):
    doc = evaluate_predictions(example.drop(columns="probability"), n_bootstrap=0).document
    assert doc["calibration"]["source"].startswith("prediction / 10")
