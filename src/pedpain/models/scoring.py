"""Scoring rows of a face table with a model: the one path training (held-out test
subjects) and ``pedpain evaluate --model`` share. No training code here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch


@torch.no_grad()
def predict_rows(
    module: torch.nn.Module, store: Any, rows: pd.DataFrame, batch_size: int
) -> pd.DataFrame:
    """Score ``rows`` of a face table with a module mapping uint8 faces to
    (intensity, probability): a PainModule or a FaceScorer of a model folder."""
    module.eval()
    scores: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    faces = rows["face"].to_numpy()
    device = next(module.parameters()).device
    for start in range(0, len(faces), batch_size):
        batch = np.stack([store[int(i)] for i in faces[start : start + batch_size]])
        score, prob = module(torch.from_numpy(batch).to(device))
        scores.append(score.float().cpu().numpy())
        probs.append(prob.float().cpu().numpy())
    out = rows.drop(columns=[c for c in ("face", "weight") if c in rows]).copy()
    out = out.rename(columns={"subject": "subject_id", "target": "reference"})
    out["prediction"] = np.concatenate(scores) if scores else np.array([])
    out["probability"] = np.concatenate(probs) if probs else np.array([])
    return out
