"""One full set of metrics for one table (a level, a fold or a subgroup), with the
reasons any metric is undefined collected as warnings instead of NaN."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pedpain.evaluation import metrics as m
from pedpain.evaluation.agreement import bland_altman, mcnemar_exact
from pedpain.evaluation.bootstrap import cluster_bootstrap_auc
from pedpain.evaluation.delong import delong_ci, delong_paired_test

#: The metrics the contract lists for each method, in its order.
CONTRACT_KEYS = (
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
)
#: Scalar metrics summarised across folds and shown in tables.
SUMMARY_KEYS = (
    "auc",
    "sensitivity",
    "specificity",
    "icc_3_1",
    "icc_2_1",
    "pcc",
    "mse",
    "rmse",
    "mae",
)


@dataclass
class Notes:
    """Warnings gathered while computing, each prefixed with where it arose."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        line = f"{where}: {text}" if where else text
        if line not in self.items:
            self.items.append(line)


@dataclass(frozen=True)
class Bootstrap:
    n_resamples: int = 2000
    seed: int = 0


def constant_or_none(values: np.ndarray) -> float | None:
    if values.size and np.ptp(values) == 0:
        return float(values[0])
    return None


def score_card(
    reference: np.ndarray,
    score: np.ndarray,
    threshold: np.ndarray,
    subjects: np.ndarray,
    *,
    notes: Notes,
    where: str,
    name: str = "prediction",
    bootstrap: Bootstrap | None = None,
) -> dict[str, Any]:
    """Metrics of ``score`` against ``reference`` (all arrays aligned, 0-10 scale)."""
    truth = m.binary_truth(reference, threshold)
    called = score >= threshold
    n = int(reference.size)
    n_pos = int(truth.sum())
    n_neg = n - n_pos
    card: dict[str, Any] = {
        "n": n,
        "n_subjects": int(np.unique(subjects).size),
        "n_positive": n_pos,
        "n_negative": n_neg,
        "threshold": constant_or_none(threshold),
    }
    if n_pos == 0:
        notes.add(
            where,
            f"no row reaches the threshold (no pain cases among {n}): "
            "AUC, sensitivity and Youden point undefined",
        )
    if n_neg == 0:
        notes.add(
            where,
            f"every row reaches the threshold (no pain-free cases among {n}): "
            "AUC, specificity and Youden point undefined",
        )

    card["auc"] = m.auc(score, truth)
    boot = bootstrap or Bootstrap(0)
    resampled = cluster_bootstrap_auc(score, truth, subjects, boot.n_resamples, boot.seed)
    card["auc_ci95"] = list(resampled.ci95) if resampled.ci95 else None
    if card["auc"] is not None and resampled.ci95 is None and boot.n_resamples > 0:
        notes.add(where, f"AUC 95% CI undefined ({resampled.reason})")
    delong = delong_ci(score, truth) if card["auc"] is not None else None
    card["auc_ci95_delong"] = [delong[1], delong[2]] if delong else None
    sens, spec = m.sensitivity_specificity(called, truth)
    card["sensitivity"], card["specificity"] = sens, spec
    card["confusion"] = m.confusion(called, truth)
    point = m.youden(score, truth)
    card["youden"] = (
        {
            "threshold": point.threshold,
            "sensitivity": point.sensitivity,
            "specificity": point.specificity,
            "j": point.j,
        }
        if point
        else None
    )

    icc = m.icc_pair(reference, score)
    card["icc_3_1"], card["icc_2_1"] = icc.icc_3_1, icc.icc_2_1
    card["icc_3_1_ci95"] = list(icc.icc_3_1_ci95) if icc.icc_3_1_ci95 else None
    card["icc_2_1_ci95"] = list(icc.icc_2_1_ci95) if icc.icc_2_1_ci95 else None
    card["pcc"] = m.pearson(reference, score)
    _explain_correlations(card, reference, score, notes, where, name)
    card["mse"] = m.mse(score, reference)
    card["rmse"] = float(np.sqrt(card["mse"]))
    card["mae"] = m.mae(score, reference)
    card["bland_altman"] = bland_altman(score, reference).to_dict()
    return card


def _explain_correlations(
    card: dict[str, Any],
    reference: np.ndarray,
    score: np.ndarray,
    notes: Notes,
    where: str,
    name: str,
) -> None:
    if reference.size < 3:
        notes.add(where, f"only {reference.size} rows: ICC and Pearson r undefined")
        return
    constant = [label for label, v in (("reference", reference), (name, score)) if np.ptp(v) == 0]
    if constant and card["pcc"] is None:
        notes.add(where, f"{' and '.join(constant)} constant: Pearson r undefined")
    if card["icc_3_1"] is None or card["icc_2_1"] is None:
        notes.add(where, "no variation at all: ICC undefined")


def comparison(
    reference: np.ndarray,
    prediction: np.ndarray,
    comparator: np.ndarray,
    threshold: np.ndarray,
    subjects: np.ndarray,
    *,
    notes: Notes,
    where: str,
    bootstrap: Bootstrap | None = None,
) -> dict[str, Any]:
    """The comparator's own metrics plus the paired tests against the model, on the rows
    where both have a value."""
    card = score_card(
        reference,
        comparator,
        threshold,
        subjects,
        notes=notes,
        where=f"{where} comparator".strip(),
        name="comparator",
        bootstrap=bootstrap,
    )
    where = where or "comparison"
    truth = m.binary_truth(reference, threshold)
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    card["delong_p"] = None
    card["auc_difference"] = None
    if n_pos >= 2 and n_neg >= 2:
        test = delong_paired_test(prediction, comparator, truth)
        card["delong_p"] = test.p
        card["auc_difference"] = test.difference
        if test.p is None:
            notes.add(where, "DeLong test undefined (zero variance of the AUC difference)")
    else:
        notes.add(where, "DeLong test needs at least 2 pain and 2 pain-free rows")
    boot = bootstrap or Bootstrap(0)
    resampled = cluster_bootstrap_auc(
        prediction, truth, subjects, boot.n_resamples, boot.seed, other_score=comparator
    )
    card["auc_difference_ci95"] = (
        list(resampled.difference_ci95) if resampled.difference_ci95 else None
    )
    model_right = (prediction >= threshold) == truth
    comparator_right = (comparator >= threshold) == truth
    overall = mcnemar_exact(model_right, comparator_right)
    card["mcnemar_p"] = overall.p
    card["mcnemar"] = {
        "overall": overall.to_dict(),
        "sensitivity": mcnemar_exact(model_right[truth], comparator_right[truth]).to_dict(),
        "specificity": mcnemar_exact(model_right[~truth], comparator_right[~truth]).to_dict(),
    }
    card["mcnemar_p_sensitivity"] = card["mcnemar"]["sensitivity"]["p"]
    card["mcnemar_p_specificity"] = card["mcnemar"]["specificity"]["p"]
    return card
