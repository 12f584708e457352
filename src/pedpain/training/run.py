"""Run an experiment: folds by subject, one Lightning fit per fold, a model folder each.

The stages: ``source`` and ``transfer`` train here, fold by fold; ``distill`` (a student
learning a teacher) and ``temporal`` (a clip head over a frame model) have their own
modules. Every stage trains on the one trainer of ``pedpain.training.trainer``.

Resumable: a fold whose model folder is complete is skipped; a fold with a
``checkpoints/last.ckpt`` continues from it and, because data order, augmentation and
dropout are seeded per epoch and step, ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

import pedpain
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write
from pedpain.core.logging import get_logger
from pedpain.data.faces import FaceTable
from pedpain.data.splits import Fold
from pedpain.models.bundle import (
    PREDICTIONS_FILE,
    is_complete,
    load_model_folder,
    read_metrics,
    save_model_folder,
)
from pedpain.models.registry import InputSpec
from pedpain.models.scoring import predict_rows
from pedpain.training.card import model_card
from pedpain.training.config import ExperimentConfig, dump_config
from pedpain.training.datamodule import FaceDataModule, positive_weight, sample_weights
from pedpain.training.folds import FoldResult, make_folds, split_rows, validation_subjects
from pedpain.training.module import FreezeThenFinetune, PainModule
from pedpain.training.scoring import fold_metrics, write_fold_summary
from pedpain.training.synthetic import mix_gan_samples, real_only
from pedpain.training.trainer import make_trainer, run_fit

log = get_logger(__name__)


def run_experiment(
    config: ExperimentConfig,
    table: FaceTable,
    out_dir: Path,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
) -> list[FoldResult]:
    """Train the config's stage into ``out_dir`` (one folder, or one per fold).
    ``callbacks`` are added to every fit (monitoring, tests)."""
    if config.stage == "distill":  # a student learning a teacher's outputs
        from pedpain.training.distill import run_distill

        return run_distill(config, table, out_dir, progress, callbacks)
    if config.stage == "temporal":  # a clip head over a frame model's embeddings
        from pedpain.training.temporal import run_temporal

        return run_temporal(config, table, out_dir, progress, callbacks)
    folds = make_folds(config, table.rows)
    results = []
    for fold in folds:
        folder = out_dir if len(folds) == 1 else out_dir / fold.name
        results.append(_run_fold(config, table, fold, folder, progress, callbacks))
    if len(folds) > 1:
        write_fold_summary(out_dir, results, config)
    return results


def _run_fold(
    config: ExperimentConfig,
    table: FaceTable,
    fold: Fold,
    folder: Path,
    progress: bool,
    extra_callbacks: Sequence[Callback],
) -> FoldResult:
    if is_complete(folder):
        return FoldResult(fold.name, folder, read_metrics(folder), reused=True)
    leak = config.split.allow_identity_leak
    train_rows, test_rows = split_rows(table.rows, fold, leak)
    test_rows = real_only(test_rows)  # synthetic faces never reach validation or test
    val_subjects = (
        set()
        if leak
        else validation_subjects(train_rows, config.split.val_fraction, config.split.seed)
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
    callbacks: list[Callback] = list(extra_callbacks)
    if len(val_rows) and config.train.early_stopping_patience > 0:
        callbacks.append(EarlyStopping("val_mae", patience=config.train.early_stopping_patience))
    if config.stage == "transfer":
        unfreeze = config.train.freeze_backbone_epochs if config.train.finetune else None
        callbacks.append(FreezeThenFinetune(unfreeze, config.train.finetune_lr_factor))
    trainer = make_trainer(
        config.trainer,
        folder,
        max_epochs=config.train.epochs,
        callbacks=callbacks,
        progress=progress,
    )
    run_fit(trainer, module, folder, datamodule=datamodule)
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
    with atomic_write(folder / PREDICTIONS_FILE, "w", newline="") as handle:
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


def clear_run(folder: Path) -> None:
    """Remove a previous run's outputs (used by --restart)."""
    if folder.exists():
        shutil.rmtree(folder)
