"""Aggregation levels (frame, clip, session, subject) and fold summaries.

A level above the rows averages the numeric columns of each group (reference, prediction,
comparator, threshold, probability, age) and keeps the first value of the descriptive ones.
Clips are grouped by ``(subject_id, clip_id)``, sessions by ``(subject_id, session_id)``,
subjects by ``subject_id``: the subject level gives one row per child, which removes the
correlation between frames of the same child (at the price of mixing time points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pedpain.evaluation.scorecard import SUMMARY_KEYS

NUMERIC = ("reference", "prediction", "comparator", "threshold", "probability", "age_months")
DESCRIPTIVE = ("sex", "time_point", "group", "fold")
#: level name -> extra key column; "frame" is the rows as given.
LEVEL_KEYS = {"clip": "clip_id", "session": "session_id"}


def available_levels(rows: pd.DataFrame) -> list[str]:
    levels = ["frame"]
    levels += [name for name, column in LEVEL_KEYS.items() if column in rows.columns]
    return [*levels, "subject"]


def aggregate(rows: pd.DataFrame, level: str) -> pd.DataFrame:
    """The table at ``level``: one row per group, with ``n_rows`` counting its members."""
    if level == "frame":
        return rows
    keys = ["subject_id"]
    if level != "subject":
        keys.append(LEVEL_KEYS[level])
    # A row without its clip/session id still belongs to its subject: it forms its own
    # "(none)" group instead of vanishing.
    grouped = rows.assign(**{k: rows[k].fillna("(none)") for k in keys[1:]})
    spec: dict[str, Any] = {c: "mean" for c in NUMERIC if c in rows.columns}
    spec.update({c: "first" for c in DESCRIPTIVE if c in rows.columns})
    table = grouped.groupby(keys, sort=True, dropna=False).agg(spec)
    table["n_rows"] = grouped.groupby(keys, sort=True, dropna=False).size()
    return table.reset_index()


def split_of_folds(rows: pd.DataFrame) -> tuple[str, list[str]]:
    """Name the split the ``fold`` column describes, and warn when folds share subjects."""
    folds_per_subject = rows.dropna(subset=["fold"]).groupby("subject_id")["fold"].nunique()
    subjects_per_fold = rows.dropna(subset=["fold"]).groupby("fold")["subject_id"].nunique()
    n_folds = int(subjects_per_fold.size)
    shared = folds_per_subject[folds_per_subject > 1]
    warnings: list[str] = []
    if len(shared):
        warnings.append(
            f"{len(shared)} subject(s) appear in more than one fold (e.g. {shared.index[0]}): "
            "the split leaks identity between training and test, results are inflated"
        )
        return f"{n_folds}-fold, NOT subject-wise", warnings
    if (subjects_per_fold == 1).all():
        return f"leave-one-subject-out ({n_folds} folds)", warnings
    return f"{n_folds}-fold subject-wise", warnings


def fold_summary(per_fold: list[dict[str, Any]], pooled: dict[str, Any]) -> dict[str, Any]:
    """Mean and SD across folds (of folds where the metric is defined) and the pooled
    values (all test rows together)."""
    mean: dict[str, float | None] = {}
    sd: dict[str, float | None] = {}
    defined: dict[str, int] = {}
    for key in SUMMARY_KEYS:
        values = np.array([f[key] for f in per_fold if f.get(key) is not None], dtype=float)
        defined[key] = int(values.size)
        mean[key] = float(values.mean()) if values.size else None
        sd[key] = float(values.std(ddof=1)) if values.size >= 2 else None
    return {
        "n_folds": len(per_fold),
        "mean": mean,
        "sd": sd,
        "n_folds_defined": defined,
        "pooled": {key: pooled.get(key) for key in SUMMARY_KEYS},
        "per_fold": per_fold,
    }
