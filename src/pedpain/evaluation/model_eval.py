"""Evaluate a trained model folder on a dataset: score every face, then the same
metrics and report as ``evaluate predictions``.

The dataset is a UNBC-McMaster tree (PSPI truth) or a ``pedpain preprocess`` output with
a labels CSV (0-10 truth; see pedpain.data.face_tables). Subjects the model was trained or
validated on are left out, so a model is never scored on faces it has seen; if nothing
is left, that is an error rather than a flattering number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pedpain.core.errors import UsageError
from pedpain.data.config import DataConfig
from pedpain.data.face_tables import load_face_table
from pedpain.evaluation.api import EvaluationResult, Protocol, evaluate_predictions
from pedpain.models.bundle import FaceScorer, load_model_folder
from pedpain.models.scoring import predict_rows


def evaluate_model(
    model: str | Path,
    data: str | Path,
    out_dir: str | Path,
    labels: str | Path | None = None,
    threshold: float | None = None,
    include_training_subjects: bool = False,
    batch_size: int = 64,
    confounders: bool = False,
    **options: Any,
) -> EvaluationResult:
    """Score ``data`` with ``model`` and write the evaluation. ``confounders`` also runs
    the phantom confounder check (:mod:`pedpain.evaluation.confounders`) on the model and
    adds its section to the report."""
    loaded = load_model_folder(model)
    data_path = Path(data)
    is_unbc = (data_path / "Images").is_dir() or (data_path / "Images" / "Images").is_dir()
    if is_unbc:
        config = DataConfig(kind="unbc", root=data_path, target="pspi")
    else:
        if labels is None:
            raise UsageError(
                "a preprocessed faces folder needs --labels (CSV with input, subject_id, target)"
            )
        config = DataConfig(kind="faces", root=data_path, labels=Path(labels), target="pain")
    out = Path(out_dir)
    table = load_face_table(config, out / ".data")
    rows = table.rows
    seen = set(loaded.meta.get("subjects_train", [])) | set(loaded.meta.get("subjects_val", []))
    excluded = sorted(set(rows["subject"].astype(str)) & seen)
    if excluded and not include_training_subjects:
        rows = rows[~rows["subject"].astype(str).isin(seen)]
        if rows.empty:
            raise UsageError(
                f"every subject in {data_path} was used to train {model}; evaluating on them "
                "would overstate accuracy (pass --include-training-subjects to do it anyway)"
            )
    predictions = predict_rows(FaceScorer(loaded), table.store, rows, batch_size)
    scale_max = loaded.target_max
    if "clip" in predictions and "clip_id" not in predictions:
        predictions = predictions.rename(columns={"clip": "clip_id"})
    if is_unbc and threshold is None:
        threshold = float(loaded.meta.get("pain_threshold", 1.0))
    notes = (
        f"{len(excluded)} subjects seen in training were left out"
        if excluded and not include_training_subjects
        else None
    )
    if excluded and include_training_subjects:
        notes = (
            f"WARNING: {len(excluded)} subjects were also in the model's training data; "
            "these results are optimistic"
        )
    protocol = Protocol(
        split=f"model {loaded.meta.get('name')} on {data_path.name}",
        dataset=table.description,
        notes=notes,
    )
    card = {
        k: loaded.meta.get(k)
        for k in (
            "name",
            "version",
            "stage",
            "backbone",
            "target",
            "sha256",
            "created",
            "data",
            "split",
        )
    }
    check = None
    if confounders:
        from pedpain.evaluation.confounders import confounder_check, model_scorer

        # The model's own pain threshold, on 0-10 (the transfer model: 3/10).
        cut = float(loaded.meta.get("pain_threshold", 3.0)) * 10.0 / float(scale_max)
        check = confounder_check(model_scorer(loaded, batch_size), threshold=cut)
        check["model"] = loaded.meta.get("name")
    return evaluate_predictions(
        predictions,
        out,
        confounders=check,
        threshold=threshold,
        scale_max=scale_max,
        protocol=protocol,
        model_card=card,
        **options,
    )
