"""Folds by subject: which children train, validate and test in each run of a stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pedpain.core.errors import UsageError
from pedpain.data.splits import (
    Fold,
    leave_one_subject_out,
    published_folds,
    random_item_split,
    stratified_subject_split,
    subject_kfold,
)
from pedpain.training.config import ExperimentConfig


@dataclass
class FoldResult:
    fold: str
    folder: Path
    metrics: dict[str, Any]
    reused: bool


def make_folds(config: ExperimentConfig, rows: pd.DataFrame) -> list[Fold]:
    subjects = sorted(rows["subject"].unique().tolist(), key=str)
    s = config.split
    if s.allow_identity_leak:
        train_idx, test_idx = random_item_split(
            len(rows), s.test_fraction, s.seed, allow_identity_leak=True
        )
        return [Fold("random-items", tuple(train_idx.tolist()), tuple(test_idx.tolist()))]
    if s.kind == "loso":
        folds = leave_one_subject_out(subjects)
    elif s.kind == "kfold":
        folds = subject_kfold(subjects, s.k, s.seed)
    elif s.kind == "manifest":
        folds = [_manifest_fold(rows)]
    elif s.kind == "published":
        folds = published_folds(s.table, [str(x) for x in subjects])
    else:
        strata = _strata(rows)
        folds = [stratified_subject_split(strata, s.test_fraction, s.seed)]
    if s.folds:
        wanted = set(s.folds)
        folds = [f for i, f in enumerate(folds, 1) if f.name in wanted or str(i) in wanted]
        if not folds:
            raise UsageError(f"split.folds {s.folds} selects no fold")
    return folds


def _manifest_fold(rows: pd.DataFrame) -> Fold:
    """The train/test split written in the data (a ``split`` column), checked to be by
    subject: a child on both sides is refused."""
    if "split" not in rows:
        raise UsageError("split.kind 'manifest' needs a 'split' column (train/test) in the labels")
    split = rows["split"].astype(str).str.lower()
    test = set(rows.loc[split == "test", "subject"])
    train = set(rows.loc[split.isin(["train", "training"]), "subject"])
    if test & train:
        raise UsageError(
            f"the labels' split puts {len(test & train)} subjects in both train "
            "and test: it is not subject-wise"
        )
    if not test or not train:
        raise UsageError("the labels' split column needs both 'train' and 'test' rows")
    return Fold("manifest", tuple(sorted(train, key=str)), tuple(sorted(test, key=str)))


def _strata(rows: pd.DataFrame) -> dict[Any, Any]:
    """Stratify subjects by pain level (their mean target, in thirds) and age band."""
    per = rows.groupby("subject")["target"].mean()
    if per.nunique() >= 3:
        level = pd.qcut(per.rank(method="first"), 3, labels=False)
    else:
        level = pd.Series(0, index=per.index)
    if "age_months" in rows:
        age = rows.groupby("subject")["age_months"].first()
        band = pd.cut(age, [-1, 11, 71, 10_000], labels=False)
        return {s: (int(level[s]), int(band[s]) if pd.notna(band[s]) else -1) for s in per.index}
    return {s: int(level[s]) for s in per.index}


def split_rows(rows: pd.DataFrame, fold: Fold, leak: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, test rows) of a fold: by subject, or by item when identity leak is
    explicitly allowed."""
    if leak:
        return rows.iloc[list(fold.train)], rows.iloc[list(fold.test)]
    return rows[rows["subject"].isin(fold.train)], rows[rows["subject"].isin(fold.test)]


def validation_subjects(train: pd.DataFrame, fraction: float, seed: int) -> set[Any]:
    """Training subjects held out for validation (early stopping): none for fewer than 4."""
    subjects = sorted(train["subject"].unique().tolist(), key=str)
    if fraction <= 0 or len(subjects) < 4:
        return set()
    n = max(1, round(len(subjects) * fraction))
    picked = np.random.default_rng([seed, 17]).permutation(len(subjects))[:n]
    return {subjects[i] for i in picked}
