"""Run an experiment: folds by subject, one Lightning fit per fold, a model folder each.

Resumable: a fold whose model folder is complete is skipped; a fold with a
``checkpoints/last.ckpt`` continues from it and, because data order, augmentation and
dropout are seeded per epoch and step, ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

import pedpain
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write
from pedpain.core.logging import get_logger
from pedpain.data.splits import (
    Fold,
    leave_one_subject_out,
    published_folds,
    random_item_split,
    stratified_subject_split,
    subject_kfold,
)
from pedpain.models.bundle import load_model_folder, save_model_folder
from pedpain.models.registry import InputSpec
from pedpain.training.chatter import ignore_lightning_chatter
from pedpain.training.config import ExperimentConfig, dump_config
from pedpain.training.datamodule import (
    FaceDataModule,
    FaceStore,
    positive_weight,
    sample_weights,
)
from pedpain.training.module import FreezeThenFinetune, PainModule
from pedpain.training.resume import prepare_resume, resumable_loggers
from pedpain.training.synthetic import mix_gan_samples, real_only

log = get_logger(__name__)


@dataclass
class FaceTable:
    """Faces and what is known about each: columns ``face`` (position in the store),
    ``subject``, ``clip``, ``frame``, ``target`` and optional metadata (``age_months``,
    ``sex``, ``time_point``, ``group``, ``session_id``)."""

    store: FaceStore
    rows: pd.DataFrame
    preprocessing: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def data_hash(self) -> str:
        cols = [c for c in ("subject", "clip", "frame", "target") if c in self.rows]
        digest = hashlib.sha256(pd.util.hash_pandas_object(self.rows[cols], index=False).values)
        return digest.hexdigest()


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary name and renamed: a kill during the write
    leaves the previous checkpoint intact instead of a truncated one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        import io

        from pedpain.core.files import atomic_write_bytes

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


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


def _split_rows(rows: pd.DataFrame, fold: Fold, leak: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    if leak:
        return rows.iloc[list(fold.train)], rows.iloc[list(fold.test)]
    return rows[rows["subject"].isin(fold.train)], rows[rows["subject"].isin(fold.test)]


def _validation_subjects(train: pd.DataFrame, fraction: float, seed: int) -> set[Any]:
    subjects = sorted(train["subject"].unique().tolist(), key=str)
    if fraction <= 0 or len(subjects) < 4:
        return set()
    n = max(1, round(len(subjects) * fraction))
    picked = np.random.default_rng([seed, 17]).permutation(len(subjects))[:n]
    return {subjects[i] for i in picked}


def _precision(setting: str) -> str:
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def run_experiment(
    config: ExperimentConfig, table: FaceTable, out_dir: Path, progress: bool = False
) -> list[FoldResult]:
    if config.stage == "distill":  # a student learning a teacher's outputs
        from pedpain.training.distill import run_distill

        return run_distill(config, table, out_dir, progress)
    if config.stage == "temporal":  # a clip head over a frame model's embeddings
        from pedpain.training.temporal import run_temporal

        return run_temporal(config, table, out_dir, progress)
    folds = make_folds(config, table.rows)
    results = []
    for fold in folds:
        folder = out_dir if len(folds) == 1 else out_dir / fold.name
        results.append(_run_fold(config, table, fold, folder, progress))
    if len(folds) > 1:
        _write_fold_summary(out_dir, results, config)
    return results


def _run_fold(
    config: ExperimentConfig, table: FaceTable, fold: Fold, folder: Path, progress: bool
) -> FoldResult:
    if (folder / "model.json").is_file():
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        return FoldResult(fold.name, folder, metrics, reused=True)
    leak = config.split.allow_identity_leak
    train_rows, test_rows = _split_rows(table.rows, fold, leak)
    test_rows = real_only(test_rows)  # synthetic faces never reach validation or test
    val_subjects = (
        set()
        if leak
        else _validation_subjects(train_rows, config.split.val_fraction, config.split.seed)
    )
    val_rows = real_only(train_rows[train_rows["subject"].isin(val_subjects)])
    fit_rows = train_rows[~train_rows["subject"].isin(val_subjects)].copy()
    if len(fit_rows) == 0:
        raise UsageError(f"fold {fold.name} has no training faces")
    store, mixed = table.store, fit_rows
    if config.augment.gan_samples is not None:  # GAN faces join the training split only
        held_out = set(test_rows["subject"]) | val_subjects
        store, mixed = mix_gan_samples(
            table.store, fit_rows, config.augment.gan_samples, config.augment.gan_ratio,
            config.data.target, held_out, config.split.seed, leak,
        )  # fmt: skip
    targets = mixed["target"].to_numpy(dtype=np.float64)
    mixed["weight"] = sample_weights(targets, config.train.max_sample_weight)

    resume = prepare_resume(folder)  # sweeps a killed run's temporaries, finds last.ckpt
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    module = _build_module(config, targets)
    datamodule = FaceDataModule(
        store,
        mixed,
        val_rows,
        config.train.batch_size,
        config.train.num_workers,
        config.train.seed,
    )
    callbacks: list[Callback] = [
        # The newest epoch, overwritten each epoch under one name: what a rerun resumes
        # from. (save_last with save_top_k=0 would only write at the very end of training.)
        ModelCheckpoint(
            dirpath=folder / "checkpoints",
            filename="last",
            monitor=None,
            save_top_k=1,
            save_last=False,
            every_n_epochs=1,
            enable_version_counter=False,
        )
    ]
    if len(val_rows) and config.train.early_stopping_patience > 0:
        callbacks.append(EarlyStopping("val_mae", patience=config.train.early_stopping_patience))
    if config.stage == "transfer":
        unfreeze = config.train.freeze_backbone_epochs if config.train.finetune else None
        callbacks.append(FreezeThenFinetune(unfreeze, config.train.finetune_lr_factor))
    t = config.trainer
    trainer = L.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=_precision(t.precision),  # type: ignore[arg-type]
        max_epochs=config.train.epochs,
        max_steps=t.max_steps,
        limit_train_batches=t.limit_train_batches,
        log_every_n_steps=t.log_every_n_steps,
        deterministic=t.deterministic,
        callbacks=callbacks,
        logger=resumable_loggers(folder, resume),  # one log folder across resumes
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # EpochSampler shards by rank itself
        default_root_dir=folder,
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
    )
    with warnings.catch_warnings():
        ignore_lightning_chatter()
        trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=str(resume.checkpoint) if resume is not None else None,
        )
    if not trainer.is_global_zero:
        return FoldResult(fold.name, folder, {}, reused=False)
    module.eval()
    predictions = predict_rows(module, table.store, test_rows, config.train.batch_size)
    metrics = fold_metrics(predictions, config.target_max, config.data.pain_threshold)
    metrics.update(
        {
            "fold": fold.name,
            "n_train_subjects": int(fit_rows["subject"].nunique()),
            "n_val_subjects": len(val_subjects),
            "n_test_subjects": int(test_rows["subject"].nunique()),
            "epochs_run": int(trainer.current_epoch),
            "n_synthetic_train": int(len(mixed) - len(fit_rows)),
        }
    )
    with atomic_write(folder / "predictions.csv", "w", newline="") as handle:
        predictions.to_csv(handle, index=False)
    meta = {
        "name": config.name,
        "version": config.version,
        "stage": config.stage,
        "backbone": config.model.backbone,
        "input_spec": module.spec.to_dict(),
        "head_hidden": config.model.head_hidden,
        "dropout": config.model.dropout,
        "target": config.data.target,
        "target_max": config.target_max,
        "pain_threshold": config.data.pain_threshold,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pedpain_version": pedpain.__version__,
        "data_hash": table.data_hash(),
        "data": table.description,
        "split": config.split.kind,
        "fold": fold.name,
        "subjects_train": sorted(map(str, fit_rows["subject"].unique())),
        "subjects_val": sorted(map(str, val_subjects)),
        "subjects_test": sorted(map(str, test_rows["subject"].unique())),
        "source_model": str(config.source_model) if config.source_model else None,
        "synthetic_data": bool(table.preprocessing.get("synthetic", False)),
        # GAN-made faces added to the training split (never to validation or test).
        "gan_faces_train": int(metrics["n_synthetic_train"]),
    }
    save_model_folder(
        folder,
        module.net,
        meta,
        dump_config(config),
        table.preprocessing,
        metrics,
        model_card(config, meta, metrics),
    )
    return FoldResult(fold.name, folder, metrics, reused=False)


def _build_module(config: ExperimentConfig, targets: np.ndarray) -> PainModule:
    m = config.model
    spec = InputSpec(size=m.input_size, normalisation=m.normalisation)
    module = PainModule(
        backbone=m.backbone,
        input_spec=spec.to_dict(),
        head_hidden=m.head_hidden,
        dropout=m.dropout,
        target_max=config.target_max,
        pain_threshold=config.data.pain_threshold,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        pain_loss_weight=config.train.pain_loss_weight,
        pos_weight=positive_weight(targets, config.data.pain_threshold),
        augment=config.augment.model_dump(mode="json"),
        finetune_lr_factor=config.train.finetune_lr_factor,
        seed=config.train.seed,
        max_epochs=config.train.epochs,
    )
    if config.stage == "source" and m.weights is not None:
        from pedpain.models.registry import create_backbone

        module.net.backbone = create_backbone(m.backbone, weights=m.weights, spec=spec)
    if config.stage == "transfer":
        assert config.source_model is not None
        source = load_model_folder(config.source_model)
        if source.meta["backbone"] != m.backbone:
            raise UsageError(
                f"source model backbone {source.meta['backbone']} differs from "
                f"model.backbone {m.backbone}"
            )
        # Keep the convolutional and pooling layers; the fully connected head is new.
        module.net.backbone.load_state_dict(source.net.backbone.state_dict())
    module.to(memory_format=torch.channels_last)
    return module


@torch.no_grad()
def predict_rows(
    module: torch.nn.Module, store: FaceStore, rows: pd.DataFrame, batch_size: int
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


def fold_metrics(pred: pd.DataFrame, target_max: float, threshold: float) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    y, p = pred["reference"].to_numpy(float), pred["prediction"].to_numpy(float)
    out: dict[str, Any] = {
        "n": len(y),
        "n_subjects": int(pred["subject_id"].nunique()),
        "target_max": target_max,
    }
    if len(y) == 0:
        return out
    out["mae"] = float(np.abs(y - p).mean())
    out["mse"] = float(((y - p) ** 2).mean())
    out["pcc"] = float(np.corrcoef(y, p)[0, 1]) if y.std() > 0 and p.std() > 0 else None
    truth = y >= threshold
    out["auc"] = (
        float(roc_auc_score(truth, pred["probability"])) if 0 < truth.sum() < len(truth) else None
    )
    return out


def _write_fold_summary(out_dir: Path, results: list[FoldResult], config: ExperimentConfig) -> None:
    from pedpain.core.files import atomic_write_text

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


def model_card(config: ExperimentConfig, meta: dict[str, Any], metrics: dict[str, Any]) -> str:
    synthetic = meta.get("synthetic_data")
    lines = [
        f"# Model card: {config.name} {config.version}",
        "",
        f"> {pedpain.DISCLAIMER}",
        "",
        "## What it is",
        f"- Stage: {config.stage}; backbone `{config.model.backbone}` "
        f"({config.model.input_size} px, {config.model.normalisation} standardisation); "
        f"head {config.model.head_hidden}.",
        f"- Predicts pain intensity on 0-{config.target_max:g} ({config.data.target}) and the "
        f"probability of pain (target >= {config.data.pain_threshold:g}).",
        f"- Source model: {meta.get('source_model') or 'none (trained from its own data)'}.",
        "",
        "## Data",
        f"- {meta.get('data') or 'unspecified'}; data hash `{meta['data_hash'][:16]}`.",
        f"- Split: {config.split.kind}, fold {meta['fold']}; "
        f"{len(meta['subjects_train'])} training, {len(meta['subjects_val'])} validation and "
        f"{len(meta['subjects_test'])} test subjects, never shared between sets.",
    ]
    if meta.get("gan_faces_train"):
        lines.append(
            f"- {meta['gan_faces_train']} GAN-generated faces were added to the training "
            "split only; validation and test hold real (or phantom) faces alone."
        )
    if synthetic:
        lines.append(
            "- **Trained on synthetic (phantom) data: it proves the software, not "
            "clinical validity. Never use it on patients.**"
        )
    lines += [
        "",
        "## Held-out results",
        *(
            f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}"
            for k, v in metrics.items()
            if k in ("n", "n_subjects", "mae", "mse", "pcc", "auc")
        ),
        "",
        "## Intended use and limits",
        "- Intended population: children after surgery, as in the OAPC-FEI protocol; a source "
        "model trained on adults (UNBC-McMaster) is a starting point for transfer only.",
        "- Not validated for clinical use. Faces that are occluded, blurred, far from frontal "
        "or of another person must be rejected by the quality gate before scoring.",
        "- Licence of the weights follows the licence of the training data (UNBC-McMaster "
        "weights may not be redistributed outside its licence).",
        "",
        "## Checksum",
        "- model.pt SHA-256: `{sha256}`",
        "",
    ]
    return "\n".join(lines)


def clear_run(folder: Path) -> None:
    """Remove a previous run's outputs (used by --restart)."""
    if folder.exists():
        shutil.rmtree(folder)
