"""`pedpain evaluate`: the two forms, degenerate inputs, outputs and the HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pedpain import DISCLAIMER
from pedpain.evaluation.example import example_predictions

CONTRACT = (
    "n",
    "n_subjects",
    "threshold",
    "auc",
    "auc_ci95",
    "sensitivity",
    "specificity",
    "icc_3_1",
    "icc_2_1",
    "pcc",
    "mse",
    "mae",
    "comparator",
    "subgroups",
)


def write(frame: pd.DataFrame, name: str = "preds.csv") -> Path:
    path = Path(name)
    frame.to_csv(path, index=False)
    return path


def simple(subjects: int = 6, per: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 11, subjects * per).astype(float)
    return pd.DataFrame(
        {
            "subject_id": np.repeat([f"s{i}" for i in range(subjects)], per),
            "reference": ref,
            "prediction": np.clip(ref + rng.normal(0, 2, ref.size), 0, 10).round(2),
        }
    )


def run_json(cli, frame: pd.DataFrame, *extra: str, code: int = 0) -> dict:
    path = write(frame)
    result = cli(
        "evaluate", "predictions", path, "--out", "out", "--bootstrap", "200", "--json", *extra
    )
    assert result.code == code, result.err
    return json.loads(result.out)


# --- the report -----------------------------------------------------------------------


def test_full_example_writes_report_with_every_plot_and_no_network(cli, tmp_path):
    path = write(example_predictions(n_subjects=24))
    card = tmp_path / "card.yaml"
    card.write_text("name: demo-model\nversion: 0.1\nintended_use: research only\n")
    result = cli(
        "evaluate",
        "predictions",
        path,
        "--out",
        "out",
        "--bootstrap",
        "200",
        "--model-card",
        card,
        "--split",
        "4-fold subject-wise",
        "--json",
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)  # exactly one JSON document on stdout
    for key in CONTRACT:
        assert key in doc
    assert doc == json.loads(Path("out/metrics.json").read_text())
    html = Path("out/report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', html)
    assert len(images) == 6  # ROC, Bland-Altman, scatter, calibration, confusion, forest
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "<script" not in html
    assert DISCLAIMER in html
    assert "demo-model" in html and "research only" in html
    assert "4-fold subject-wise" in html
    for name in ("roc", "bland_altman", "scatter", "calibration", "confusion", "forest"):
        assert Path(f"out/plots/{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for table in (
        "metrics_by_level",
        "subgroups",
        "folds",
        "calibration",
        "predictions_by_subject",
        "predictions_by_session",
        "predictions_by_clip",
    ):
        assert not pd.read_csv(f"out/{table}.csv").empty, table
    assert not list(Path("out").rglob("*.tmp"))


def test_human_summary_names_the_report(cli):
    path = write(simple())
    result = cli("evaluate", "predictions", path, "--out", "out", "--bootstrap", "0")
    assert result.code == 0, result.err
    assert "AUC" in result.out and "out/report.html" in result.out
    assert DISCLAIMER in result.out
    # Without a comparator or subgroup columns: no forest plot, four-plus-one figures.
    html = Path("out/report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5


# --- the group and the model form ------------------------------------------------------


def test_evaluate_alone_prints_help_and_is_a_usage_error(cli):
    result = cli("evaluate")
    assert result.code == 2
    assert "predictions" in result.err and "Usage" in result.err


def test_model_form_refuses_missing_model_data_or_folder(cli, tmp_path):
    # (The model form on a real trained model is tested in tests/test_training.py.)
    missing = cli("evaluate", "--model", tmp_path / "none", "--data", "d", "--out", "o")
    assert missing.code == 4 and "no model" in missing.err
    no_data = cli("evaluate", "--model", tmp_path, "--data", tmp_path / "d", "--out", "o")
    assert no_data.code == 2 and "data not found" in no_data.err
    assert no_data.err.count("\n") == 1
    not_a_model = cli("evaluate", "--model", tmp_path, "--data", tmp_path, "--out", "o")
    assert not_a_model.code == 4 and "model.json missing" in not_a_model.err


def test_help_has_examples(cli):
    result = cli("evaluate", "predictions", "--help")
    assert result.code == 0
    assert "pedpain evaluate predictions" in result.out.split("Examples:", 1)[1]


# --- degenerate inputs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("subject_id,reference,prediction\n", "no rows"),
        ("subject_id,reference\ns1,3\n", "missing column(s) prediction"),
        ("subject_id,reference,prediction\ns1,3,high\n", "'high' is not a number"),
        ("subject_id,reference,prediction\ns1,12,3\n", "outside 0-10"),
        ("subject_id,reference,prediction\ns1,3,inf\n", "infinite"),
        ('subject_id,reference,prediction\ns1,"3,4\n', "not a readable CSV"),
    ],
)
def test_unusable_tables_are_refused_with_one_line(cli, content, message):
    Path("bad.csv").write_text(content)
    result = cli("evaluate", "predictions", "bad.csv", "--out", "out")
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert not Path("out/metrics.json").exists()


def test_missing_folder_and_binary_files_are_refused(cli):
    assert cli("evaluate", "predictions", "nope.csv", "--out", "o").code == 2
    Path("image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    result = cli("evaluate", "predictions", "image.csv", "--out", "o")
    assert result.code == 2 and "not a CSV" in result.err
    Path("folder").mkdir()
    result = cli("evaluate", "predictions", "folder", "--out", "o")
    assert result.code == 2 and "folder" in result.err


def test_empty_values_are_dropped_counted_and_exit_3(cli):
    frame = simple().astype(object)
    frame.loc[[1, 5], "prediction"] = ""
    frame.loc[7, "reference"] = None
    doc = run_json(cli, frame, code=3)
    assert doc["n"] == len(frame) - 3 and doc["n_dropped"] == 3
    assert any("3 of 24 rows dropped" in w for w in doc["warnings"])
    assert Path("out/report.html").exists()


def test_one_class_only_gives_null_auc_with_warning(cli):
    frame = simple()
    frame["reference"] = frame["reference"].clip(upper=2)  # all below threshold 3
    doc = run_json(cli, frame)
    assert doc["auc"] is None and doc["sensitivity"] is None and doc["auc_ci95"] is None
    assert doc["specificity"] is not None
    assert any("no pain cases" in w for w in doc["warnings"])
    assert Path("out/report.html").exists()


def test_constant_predictions_have_null_correlation_and_chance_auc(cli):
    frame = simple()
    frame["prediction"] = 5.0
    doc = run_json(cli, frame)
    assert doc["pcc"] is None and doc["auc"] == 0.5
    assert any("constant" in w for w in doc["warnings"])


def test_fewer_than_three_subjects_gives_no_subject_level_interval(cli):
    doc = run_json(cli, simple(subjects=2, per=10))
    assert doc["auc"] is not None and doc["auc_ci95"] is None
    assert doc["auc_ci95_delong"] is not None
    assert any("fewer than 3 subjects" in w for w in doc["warnings"])


def test_threshold_column_and_option(cli):
    frame = simple()
    frame["threshold"] = 5.0
    doc = run_json(cli, frame, "--threshold", "2")
    assert doc["threshold"] == 5.0 and doc["threshold_source"] == "per-row threshold column"
    assert any("threshold is ignored" in w for w in doc["warnings"])
    doc = run_json(cli, simple(), "--threshold", "6")
    assert doc["threshold"] == 6.0
    assert run_json(cli, simple())["threshold"] == 3.0  # documented default


def test_age_picks_the_table_1_threshold(cli):
    frame = simple()
    frame["age_months"] = 1  # CHIPPS 4/10 under 2 months
    assert run_json(cli, frame)["threshold"] == 4.0


def test_pspi_scale_reports_native_errors(cli):
    frame = simple()
    frame[["reference", "prediction"]] *= 1.6  # on 0-16
    doc = run_json(cli, frame, "--scale-max", "16", "--threshold", "4.8")
    assert doc["threshold"] == pytest.approx(3.0)
    native = doc["native_scale"]
    assert native["name"] == "PSPI" and native["threshold"] == pytest.approx(4.8)
    assert native["mae"] == pytest.approx(doc["mae"] * 1.6)
    assert native["mse"] == pytest.approx(doc["mse"] * 1.6**2)
