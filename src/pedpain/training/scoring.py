"""Held-out metrics of a trained fold and the summary over folds. The point metrics are
those of ``pedpain.evaluation.metrics`` (one definition of MAE, Pearson r and AUC)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pedpain.core.files import atomic_write, atomic_write_text
from pedpain.evaluation import metrics as point
from pedpain.training.config import ExperimentConfig
from pedpain.training.folds import FoldResult


def fold_metrics(pred: pd.DataFrame, target_max: float, threshold: float) -> dict[str, Any]:
    """n, subjects, MAE, MSE, Pearson r of the intensity and the AUC of the probability
    (truth: reference >= threshold) of a predictions table."""
    y, p = pred["reference"].to_numpy(float), pred["prediction"].to_numpy(float)
    out: dict[str, Any] = {
        "n": len(y),
        "n_subjects": int(pred["subject_id"].nunique()),
        "target_max": target_max,
    }
    if len(y) == 0:
        return out
    out["mae"] = point.mae(p, y)
    out["mse"] = point.mse(p, y)
    out["pcc"] = point.pearson(y, p)
    out["auc"] = point.auc(pred["probability"].to_numpy(float), point.binary_truth(y, threshold))
    return out


def write_fold_summary(out_dir: Path, results: list[FoldResult], config: ExperimentConfig) -> None:
    keys = ("mae", "mse", "pcc", "auc")
    summary: dict[str, Any] = {"folds": [dict(r.metrics, folder=str(r.folder)) for r in results]}
    for key in keys:
        values = [float(r.metrics[key]) for r in results if r.metrics.get(key) is not None]
        summary[key] = (
            {
                "mean": float(np.mean(values)),
                "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                "n_folds": len(values),
            }
            if values
            else None
        )
    frames = [
        pd.read_csv(r.folder / "predictions.csv")
        for r in results
        if (r.folder / "predictions.csv").is_file()
    ]
    if frames:
        pooled = pd.concat(frames, ignore_index=True)
        with atomic_write(out_dir / "predictions_pooled.csv", "w", newline="") as handle:
            pooled.to_csv(handle, index=False)
        summary["pooled"] = fold_metrics(pooled, config.target_max, config.data.pain_threshold)
    atomic_write_text(out_dir / "folds.json", json.dumps(summary, indent=2))
