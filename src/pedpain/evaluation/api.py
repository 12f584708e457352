"""``evaluate_predictions``: every metric, table, plot and the report from one predictions
table. ``pedpain evaluate predictions`` reads a CSV and calls it; model evaluation only has
to produce the same table (one row per scored frame or clip) and call it too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pedpain import DISCLAIMER, __version__
from pedpain.clinical.scales import recommended_scale
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_bytes, atomic_write_text
from pedpain.core.logging import get_logger
from pedpain.evaluation import plots
from pedpain.evaluation.calibration import reliability
from pedpain.evaluation.defaults import DEFAULT_THRESHOLD
from pedpain.evaluation.levels import aggregate, available_levels, fold_summary, split_of_folds
from pedpain.evaluation.metrics import binary_truth
from pedpain.evaluation.report import render_report
from pedpain.evaluation.scorecard import (
    CONTRACT_KEYS,
    SUMMARY_KEYS,
    Bootstrap,
    Notes,
    comparison,
    score_card,
)
from pedpain.evaluation.subgroups import (
    MIN_SUBJECTS,
    ordered_values,
    subgroup_columns,
)
from pedpain.evaluation.table import CleanTable, clean, read_predictions

log = get_logger(__name__)

CI_METHOD = (
    "subject-level cluster bootstrap ({n} resamples of whole subjects, percentile interval, "
    "seed {seed}); auc_ci95_delong gives DeLong's interval, which treats rows as independent"
)
SCALE_NAMES = {16.0: "PSPI"}
VARIABLE_LABELS = {"age_band": "Age", "sex": "Sex", "time_point": "Time point", "group": "Group"}


@dataclass(frozen=True)
class Protocol:
    """How the predictions were obtained, stated in the report."""

    split: str | None = None  # e.g. "leave-one-subject-out"; detected from `fold` if None
    dataset: str | None = None  # e.g. "OAPC-FEI, postoperative day 1"
    notes: str | None = None


@dataclass
class EvaluationResult:
    document: dict[str, Any]  # metrics.json, the same document `--json` prints
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    n_dropped: int = 0

    @property
    def warnings(self) -> list[str]:
        return list(self.document.get("warnings", []))


def evaluate_predictions_csv(
    path: str | Path, out_dir: str | Path | None = None, **options: Any
) -> EvaluationResult:
    """Read a predictions CSV (see :mod:`pedpain.evaluation.table`) and evaluate it."""
    frame = read_predictions(path)
    return evaluate_predictions(frame, out_dir, source=str(path), **options)


def evaluate_predictions(
    predictions: pd.DataFrame,
    out_dir: str | Path | None = None,
    *,
    threshold: float | None = None,
    scale_max: float = 10.0,
    scale_name: str | None = None,
    protocol: Protocol | None = None,
    model_card: Mapping[str, Any] | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
    min_subgroup_subjects: int = MIN_SUBJECTS,
    source: str | None = None,
    confounders: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate a predictions table and, if ``out_dir`` is given, write the report there.

    ``predictions`` has the columns of :mod:`pedpain.evaluation.table` with scores on
    ``0..scale_max`` (text or numbers). ``threshold`` is on the same scale. Raises
    :class:`UsageError` for an unusable table; rows with an empty required value are
    dropped and counted in ``result.n_dropped``.
    """
    if n_bootstrap < 0:
        raise UsageError("the number of bootstrap resamples cannot be negative")
    table = clean(predictions, scale_max=scale_max, source=source or "predictions")
    notes = Notes(list(table.warnings))
    rows = table.rows
    thresholds, threshold_source = _thresholds(rows, threshold, table, notes)
    rows = rows.assign(threshold=thresholds)
    boot = Bootstrap(n_bootstrap, seed)

    level_cards: dict[str, dict[str, Any]] = {}
    level_tables: dict[str, pd.DataFrame] = {}
    for level in available_levels(rows):
        level_rows = aggregate(rows, level)
        level_tables[level] = level_rows
        where = "" if level == "frame" else f"{level} level"
        level_cards[level] = _cards(level_rows, notes, where, boot)
    headline = level_cards["frame"]

    doc: dict[str, Any] = {key: headline[key] for key in CONTRACT_KEYS}
    doc["comparator"] = headline.get("comparator")
    doc["subgroups"] = _subgroups(rows, headline, notes, boot, min_subgroup_subjects)
    doc["level"] = "frame"
    doc.update({k: v for k, v in headline.items() if k not in doc})
    doc["threshold_source"] = threshold_source
    doc["threshold_values"] = sorted({round(float(t), 6) for t in thresholds})[:20]
    doc["auc_ci95_method"] = CI_METHOD.format(n=n_bootstrap, seed=seed)
    doc["levels"] = level_cards
    doc["folds"] = _folds(rows, headline, notes) if "fold" in rows.columns else None
    doc["calibration"] = _calibration(rows)
    doc["native_scale"] = _native(headline, scale_max, scale_name)
    doc["protocol"] = _protocol(rows, protocol, source, threshold_source, doc, scale_max)
    doc["model_card"] = dict(model_card) if model_card is not None else None
    # The phantom confounder check of the model (pedpain.evaluation.confounders), if run.
    doc["confounders"] = dict(confounders) if confounders is not None else None
    doc["n_input_rows"] = table.n_input_rows
    doc["n_dropped"] = table.n_dropped
    doc["warnings"] = notes.items
    doc["disclaimer"] = DISCLAIMER
    doc["software"] = {"name": "pedpain", "version": __version__}

    tables = {f"predictions_by_{level}": t for level, t in level_tables.items() if level != "frame"}
    tables["metrics_by_level"] = _level_table(level_cards)
    if doc["subgroups"]:
        tables["subgroups"] = _subgroup_table(doc["subgroups"])
    if doc["folds"]:
        tables["folds"] = pd.DataFrame(doc["folds"]["per_fold"])
    tables["calibration"] = pd.DataFrame(doc["calibration"]["bins"])
    if confounders is not None:
        tables["confounders"] = pd.DataFrame(
            [{"confounder": k, **v} for k, v in confounders["per_confounder"].items()]
        )
    result = EvaluationResult(document=doc, tables=tables, n_dropped=table.n_dropped)
    if out_dir is not None:
        _write(result, rows, Path(out_dir))
    return result


# --- pieces -------------------------------------------------------------------------


def _thresholds(
    rows: pd.DataFrame, option: float | None, table: CleanTable, notes: Notes
) -> tuple[np.ndarray, str]:
    factor = 10.0 / table.scale_max
    if "threshold" in rows.columns:
        if option is not None:
            notes.add("", "the table has a threshold column: the given threshold is ignored")
        return rows["threshold"].to_numpy(dtype=float), "per-row threshold column"
    if option is not None:
        if not (math.isfinite(option) and 0 <= option <= table.scale_max):
            raise UsageError(f"threshold {option:g} is outside the scale 0-{table.scale_max:g}")
        return np.full(len(rows), option * factor), f"given threshold {option:g}"
    if "age_months" in rows.columns:
        values = np.array([_age_threshold(a) for a in rows["age_months"]], dtype=float)
        unknown = int(np.isnan(values).sum())
        if unknown:
            notes.add(
                "",
                f"{unknown} row(s) without a usable age use the default threshold "
                f"{DEFAULT_THRESHOLD:g}/10",
            )
        values[np.isnan(values)] = DEFAULT_THRESHOLD
        return values, (
            "Table 1 therapeutic threshold of the observer scale recommended for each "
            "child's age (normalised to 0-10)"
        )
    text = f"default threshold {DEFAULT_THRESHOLD:g}/10 (FLACC, OPS and NRS therapeutic threshold)"
    if table.scale_max != 10.0:
        text += f" = {DEFAULT_THRESHOLD / factor:g} on 0-{table.scale_max:g}"
    return np.full(len(rows), DEFAULT_THRESHOLD), text


def _age_threshold(months: float) -> float:
    if months is None or not math.isfinite(months):
        return math.nan
    scale = recommended_scale(int(months))
    value = scale.threshold_normalised if scale is not None else None
    return math.nan if value is None else value


def _cards(rows: pd.DataFrame, notes: Notes, where: str, boot: Bootstrap) -> dict[str, Any]:
    """The model's metrics and, when there is a comparator, the comparison."""
    reference = rows["reference"].to_numpy(dtype=float)
    prediction = rows["prediction"].to_numpy(dtype=float)
    threshold = rows["threshold"].to_numpy(dtype=float)
    subjects = rows["subject_id"].to_numpy(dtype=str)
    card = score_card(
        reference, prediction, threshold, subjects, notes=notes, where=where, bootstrap=boot
    )
    card["comparator"] = None
    if "comparator" in rows.columns:
        paired = rows["comparator"].notna().to_numpy()
        label = where or "comparator"
        if not paired.any():
            notes.add(label, "the comparator column is empty: no comparison")
        else:
            if not paired.all():
                notes.add(
                    label,
                    f"comparator missing in {int((~paired).sum())} row(s): the "
                    f"comparison uses the {int(paired.sum())} rows that have both",
                )
            card["comparator"] = comparison(
                reference[paired],
                prediction[paired],
                rows["comparator"].to_numpy(dtype=float)[paired],
                threshold[paired],
                subjects[paired],
                notes=notes,
                where=where,
                bootstrap=boot,
            )
    return card


SUBGROUP_KEYS = (
    "n",
    "n_subjects",
    "n_positive",
    "n_negative",
    "threshold",
    "auc",
    "auc_ci95",
    "sensitivity",
    "specificity",
    "icc_3_1",
    "icc_2_1",
    "pcc",
    "mse",
    "rmse",
    "mae",
)
COMPARATOR_SUBGROUP_KEYS = (
    "n",
    "auc",
    "sensitivity",
    "specificity",
    "mae",
    "delong_p",
    "mcnemar_p",
)


def _subgroups(
    rows: pd.DataFrame, headline: dict[str, Any], notes: Notes, boot: Bootstrap, minimum: int
) -> dict[str, dict[str, dict[str, Any]]]:
    result: dict[str, dict[str, dict[str, Any]]] = {}
    flagged = 0
    for variable, labels in subgroup_columns(rows).items():
        groups: dict[str, dict[str, Any]] = {}
        for value in ordered_values(variable, labels):
            part = rows.loc[(labels == value).to_numpy()]
            local = Notes()
            n_subjects = int(part["subject_id"].nunique())
            truth = binary_truth(part["reference"], part["threshold"])
            if n_subjects < minimum:
                entry: dict[str, Any] = {k: None for k in SUBGROUP_KEYS}
                entry.update(
                    n=len(part),
                    n_subjects=n_subjects,
                    n_positive=int(truth.sum()),
                    n_negative=int((~truth).sum()),
                )
                entry["comparator"] = None
                local.add(
                    "", f"only {n_subjects} subject(s), fewer than {minimum}: metrics not reported"
                )
            else:
                card = _cards(part, local, "", boot)
                entry = {k: card[k] for k in SUBGROUP_KEYS}
                other = card.get("comparator")
                entry["comparator"] = (
                    {k: other[k] for k in COMPARATOR_SUBGROUP_KEYS} if other else None
                )
            entry["warning"] = "; ".join(local.items) or None
            flagged += entry["warning"] is not None
            groups[value] = entry
        result[variable] = groups
    if flagged:
        notes.add("subgroups", f"{flagged} subgroup(s) carry a warning (see their 'warning')")
    return result


def _folds(rows: pd.DataFrame, headline: dict[str, Any], notes: Notes) -> dict[str, Any]:
    split, warnings = split_of_folds(rows)
    for text in warnings:
        notes.add("folds", text)
    per_fold: list[dict[str, Any]] = []
    troubled = 0
    for fold, part in rows.dropna(subset=["fold"]).groupby("fold", sort=True):
        local = Notes()
        card = _cards(part, local, "", Bootstrap(0))
        entry = {
            "fold": str(fold),
            "n": card["n"],
            "n_subjects": card["n_subjects"],
            "n_positive": card["n_positive"],
        }
        entry.update({k: card[k] for k in SUMMARY_KEYS})
        entry["warning"] = "; ".join(local.items) or None
        troubled += entry["warning"] is not None
        per_fold.append(entry)
    if troubled:
        notes.add(
            "folds",
            f"{troubled} of {len(per_fold)} folds have undefined metrics "
            "(see folds.per_fold); mean and sd use the folds where each is defined",
        )
    missing = int(rows["fold"].isna().sum())
    if missing:
        notes.add("folds", f"{missing} row(s) have no fold: left out of the per-fold summary")
    summary = fold_summary(per_fold, headline)
    summary["split"] = split
    return summary


def _calibration(rows: pd.DataFrame) -> dict[str, Any]:
    truth = binary_truth(rows["reference"], rows["threshold"])
    if "probability" in rows.columns and rows["probability"].notna().any():
        have = rows["probability"].notna().to_numpy()
        cal = reliability(
            rows["probability"].to_numpy(dtype=float)[have],
            truth[have],
            source="probability column",
        )
    else:
        cal = reliability(
            rows["prediction"].to_numpy(dtype=float) / 10.0,
            truth,
            source="prediction / 10, not a calibrated probability",
        )
    return cal.to_dict()


def _native(card: dict[str, Any], scale_max: float, name: str | None) -> dict[str, Any] | None:
    """Error metrics on the table's own scale (e.g. PSPI 0-16, comparable with the
    published UNBC-McMaster results); None when the table is already on 0-10."""
    if scale_max == 10.0:
        return None
    factor = scale_max / 10.0
    threshold = card["threshold"]
    native = {
        "name": name or SCALE_NAMES.get(float(scale_max), f"0-{scale_max:g}"),
        "max": scale_max,
        "threshold": threshold * factor if threshold is not None else None,
        "mse": card["mse"] * factor**2,
        "rmse": card["rmse"] * factor,
        "mae": card["mae"] * factor,
    }
    other = card.get("comparator")
    native["comparator"] = (
        {
            "mse": other["mse"] * factor**2,
            "rmse": other["rmse"] * factor,
            "mae": other["mae"] * factor,
        }
        if other
        else None
    )
    return native


def _protocol(
    rows: pd.DataFrame,
    protocol: Protocol | None,
    source: str | None,
    threshold_source: str,
    doc: dict[str, Any],
    scale_max: float,
) -> dict[str, Any]:
    given = protocol or Protocol()
    split = given.split
    if split is None:
        split = doc["folds"]["split"] if doc["folds"] else "as given (no fold column)"
    counts = {
        "n_rows": len(rows),
        "n_subjects": int(rows["subject_id"].nunique()),
        "n_sessions": int(rows[["subject_id", "session_id"]].drop_duplicates().shape[0])
        if "session_id" in rows.columns
        else None,
        "n_clips": int(rows[["subject_id", "clip_id"]].drop_duplicates().shape[0])
        if "clip_id" in rows.columns
        else None,
    }
    return {
        "split": split,
        "dataset": given.dataset,
        "notes": given.notes,
        "source": source,
        **counts,
        "levels": list(doc["levels"]),
        "scale": f"0-{scale_max:g}, reported normalised to 0-10",
        "threshold": threshold_source,
        "binary_truth": "reference >= threshold; a prediction >= threshold counts as positive",
        "auc_ci95": doc["auc_ci95_method"],
    }


# --- tables and files ---------------------------------------------------------------


def _flat(card: dict[str, Any]) -> dict[str, Any]:
    ci = card.get("auc_ci95") or [None, None]
    youden = card.get("youden") or {}
    agreement = card.get("bland_altman") or {}
    row = {
        "n": card["n"],
        "n_subjects": card["n_subjects"],
        "n_positive": card["n_positive"],
        "n_negative": card["n_negative"],
        "threshold": card["threshold"],
        "auc": card["auc"],
        "auc_ci95_low": ci[0],
        "auc_ci95_high": ci[1],
        "sensitivity": card["sensitivity"],
        "specificity": card["specificity"],
        "youden_threshold": youden.get("threshold"),
        "youden_sensitivity": youden.get("sensitivity"),
        "youden_specificity": youden.get("specificity"),
        "icc_3_1": card["icc_3_1"],
        "icc_2_1": card["icc_2_1"],
        "pcc": card["pcc"],
        "mse": card["mse"],
        "rmse": card["rmse"],
        "mae": card["mae"],
        "bias": agreement.get("bias"),
        "loa_low": agreement.get("loa_low"),
        "loa_high": agreement.get("loa_high"),
        "delong_p": card.get("delong_p"),
        "mcnemar_p": card.get("mcnemar_p"),
    }
    return row


def _level_table(cards: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for level, card in cards.items():
        rows.append({"level": level, "method": "model", **_flat(card)})
        if card.get("comparator"):
            rows.append({"level": level, "method": "comparator", **_flat(card["comparator"])})
    return pd.DataFrame(rows)


def _subgroup_table(subgroups: dict[str, dict[str, dict[str, Any]]]) -> pd.DataFrame:
    rows = []
    for variable, groups in subgroups.items():
        for value, entry in groups.items():
            ci = entry.get("auc_ci95") or [None, None]
            flat = {k: v for k, v in entry.items() if k not in ("auc_ci95", "comparator")}
            other = entry.get("comparator") or {}
            rows.append(
                {
                    "variable": variable,
                    "value": value,
                    **flat,
                    "auc_ci95_low": ci[0],
                    "auc_ci95_high": ci[1],
                    "comparator_auc": other.get("auc"),
                    "comparator_sensitivity": other.get("sensitivity"),
                    "comparator_specificity": other.get("specificity"),
                }
            )
    return pd.DataFrame(rows)


def _write(result: EvaluationResult, rows: pd.DataFrame, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    doc = result.document
    images = _figures(doc, rows)
    files: dict[str, Path] = {}
    for name in images:
        files[f"plot_{name}"] = out / "plots" / f"{name}.png"
    for name in result.tables:
        files[name] = out / f"{name}.csv"
    files["metrics"] = out / "metrics.json"
    files["report"] = out / "report.html"
    doc["outputs"] = {name: str(path) for name, path in files.items()}
    for name, png in images.items():
        atomic_write_bytes(files[f"plot_{name}"], png)
    for name, frame in result.tables.items():
        atomic_write_text(files[name], frame.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(files["metrics"], _json(doc))
    atomic_write_text(files["report"], render_report(doc, images, result.tables))
    result.files = files
    log.info("evaluation written", extra={"out": str(out)})


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(_plain(doc), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, paths to text, non-finite floats to null (the
    same policy as the CLI's --json; evaluation cannot import the cli layer)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _figures(doc: dict[str, Any], rows: pd.DataFrame) -> dict[str, bytes]:
    """The report's plots, in report order; plots that need an undefined metric are left
    out (the report says so)."""
    reference = rows["reference"].to_numpy(dtype=float)
    prediction = rows["prediction"].to_numpy(dtype=float)
    threshold = rows["threshold"].to_numpy(dtype=float)
    truth = reference >= threshold
    other = doc["comparator"]
    paired = rows["comparator"].notna().to_numpy() if other else None
    comparator = rows["comparator"].to_numpy(dtype=float) if other else None
    images: dict[str, bytes] = {}
    if doc["auc"] is not None or (other and other.get("auc") is not None):
        images["roc"] = plots.roc_plot(
            truth,
            prediction,
            comparator[paired] if comparator is not None and paired is not None else None,
            doc,
            other,
            truth[paired] if paired is not None else None,
        )
    panels = [("Model", prediction, reference, doc["bland_altman"])]
    if other and comparator is not None and paired is not None:
        # The comparator is drawn against the reference of its own (paired) rows.
        panels.append(("Comparator", comparator[paired], reference[paired], other["bland_altman"]))
    images["bland_altman"] = plots.bland_altman_plot(panels)
    images["scatter"] = plots.scatter_plot(reference, prediction, doc["threshold"], doc)
    images["calibration"] = plots.calibration_plot(doc["calibration"])
    cards = [("Model", doc)] + ([("Comparator", other)] if other else [])
    images["confusion"] = plots.confusion_plot(cards)
    forest_rows = [
        (f"{VARIABLE_LABELS.get(variable, variable)}: {value}", entry)
        for variable, groups in doc["subgroups"].items()
        for value, entry in groups.items()
    ]
    if forest_rows:
        images["forest"] = plots.forest_plot(forest_rows, doc)
    return images
