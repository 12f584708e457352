"""The confounder check (issue 20): a scorer that follows the pain expression passes, one
that follows a cue pain shares with other expressions fails on those expressions, and the
check reaches the evaluation report of a real trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pedpain.evaluation.confounders import (
    CONFOUNDERS,
    ProbeParams,
    confounder_check,
    probe_set,
    summarise,
)

SMALL = ProbeParams(children=4, seed=5)


@pytest.fixture(scope="module")
def probe() -> tuple[np.ndarray, pd.DataFrame]:
    return probe_set(SMALL)


def test_probe_covers_every_confounder_with_and_without_pain(probe) -> None:
    faces, truth = probe
    assert faces.shape == (len(truth), 128, 128, 3) and faces.dtype == np.uint8
    assert set(truth["confounder"]) == {"none", *CONFOUNDERS}
    for _, part in truth.groupby("confounder"):
        assert (part["pain_pspi"] == 0).any() and (part["pain_pspi"] >= 4).any()
    # Smiles and laughs add AU6 to the face's PSPI; the truth keeps the pain part apart.
    smiles = truth[truth["confounder"] == "smile"]
    assert (smiles["pspi"] > smiles["pain_pspi"]).any()
    again, truth2 = probe_set(SMALL)
    assert np.array_equal(again, faces) and truth2.equals(truth)


def test_a_scorer_of_the_pain_expression_passes(probe) -> None:
    _, truth = probe
    rng = np.random.default_rng(0)
    honest = truth["pain_pspi"].to_numpy() * 0.6 + rng.normal(0, 0.3, len(truth))
    doc = summarise(truth, honest, threshold=3.0, n_bootstrap=100)
    assert doc["passed"] and not doc["failed"]
    assert set(doc["per_confounder"]) == {"none", *CONFOUNDERS}
    for entry in doc["per_confounder"].values():
        assert entry["auc"] > 0.9 and entry["paired_win_rate"] > 0.9
        assert entry["auc_ci95"][0] <= entry["auc"] <= entry["auc_ci95"][1]


def test_scorers_of_shared_cues_fail_where_the_cue_misleads(probe) -> None:
    _, truth = probe
    # "Open mouth = pain": strong pain opens the mouth, but so do yawning and talking.
    mouth = (
        truth["confounder"].isin(["yawn", "talk", "laugh", "cry_no_pain"]) | (truth["level"] > 0.7)
    ).to_numpy() * 6.0
    doc = summarise(truth, mouth, threshold=3.0, n_bootstrap=50)
    assert {"yawn", "talk", "laugh", "cry_no_pain"} <= set(doc["failed"])
    assert doc["per_confounder"]["yawn"]["false_alarm_rate"] == 1.0
    # "Lowered brow = pain": a concentration frown alone scores as pain.
    brow = (truth["pain_pspi"] * 0.5 + (truth["confounder"] == "frown") * 6.0).to_numpy()
    doc = summarise(truth, brow, threshold=3.0, n_bootstrap=50)
    assert doc["failed"] == ["frown"]


def test_check_refuses_a_scorer_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="scores for"):
        confounder_check(lambda faces: np.zeros(3), params=ProbeParams(children=1))


@pytest.mark.slow
def test_evaluation_report_of_a_trained_model_has_the_confounder_section(
    tmp_path: Path,
) -> None:
    """A real (tiny) pedpain model trained on a phantom UNBC tree, evaluated with
    --confounders: metrics.json and report.html carry the per-confounder results."""
    import contextlib
    import io

    import yaml

    from pedpain.cli.main import run
    from pedpain.data.phantom.unbc import UnbcParams, generate_unbc

    tree = tmp_path / "unbc"
    generate_unbc(tree, UnbcParams(subjects=4, frames_per_sequence=6, seed=3))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "stage": "source",
                "name": "tiny-phantom",
                "data": {"kind": "unbc", "root": str(tree), "target": "pspi",
                         "cache": str(tmp_path / "faces")},
                "split": {"kind": "holdout", "test_fraction": 0.25, "val_fraction": 0.0},
                "model": {"backbone": "resnet18", "input_size": 64, "head_hidden": [16]},
                "train": {"batch_size": 16, "epochs": 1, "lr": 0.003,
                          "early_stopping_patience": 0},
            }
        )
    )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["train", "--config", str(cfg), "--out", str(tmp_path / "m"), "--json"]) == 0
        code = run(["evaluate", "--model", str(tmp_path / "m"), "--data", str(tree),
                    "--out", str(tmp_path / "ev"), "--confounders", "--json"])  # fmt: skip
    assert code == 0
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    check = doc["confounders"]
    assert set(check["per_confounder"]) == {"none", *CONFOUNDERS}
    assert check["model"] == "tiny-phantom" and check["probe"]["faces"] > 100
    assert isinstance(check["passed"], bool)
    report = (tmp_path / "ev" / "report.html").read_text()
    assert "<h2>Confounders</h2>" in report and "sucking a pacifier" in report
    assert (tmp_path / "ev" / "confounders.csv").is_file()
