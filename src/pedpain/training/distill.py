"""Stage ``distill``: a compact bedside model that learns a teacher's outputs.

The student (``model.backbone``, by default MobileNetV3-Large) sees the training faces
and learns the teacher model folder's intensity (mean squared error on the fraction of
the scale) and pain probability (binary cross-entropy against the teacher's
probability), the knowledge-distillation recipe. Faces are split by subject as in every
stage; on the held-out subjects the student's agreement with the teacher (MAE and
Pearson correlation of the intensities, agreement on pain / no pain) is written to the
model folder's ``agreement.json`` and ``metrics.json`` next to its own accuracy.

The student trains on the shared trainer (``pedpain.training.trainer``): on the GPUs,
nodes and precision of ``trainer.*``, with a checkpoint after every epoch; the data
order (per epoch), flips and dropout (per step) are seeded, so a killed run resumes to
the weights of an uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

import pedpain
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write, atomic_write_text
from pedpain.core.logging import get_logger
from pedpain.data.faces import FaceStore, FaceTable, take_faces
from pedpain.evaluation import metrics as point
from pedpain.models.bundle import (
    AGREEMENT_FILE,
    PREDICTIONS_FILE,
    FaceScorer,
    LoadedModel,
    is_complete,
    load_model_folder,
    read_metrics,
    save_model_folder,
)
from pedpain.models.inputs import model_input
from pedpain.models.registry import InputSpec
from pedpain.training.card import model_card
from pedpain.training.config import ExperimentConfig, dump_config
from pedpain.training.datamodule import EpochSampler, collate_batch
from pedpain.training.folds import FoldResult, make_folds, split_rows
from pedpain.training.module import build_net
from pedpain.training.scoring import fold_metrics
from pedpain.training.trainer import inference_device, make_trainer, run_fit

log = get_logger(__name__)


@torch.no_grad()
def teacher_outputs(
    module: torch.nn.Module, store: FaceStore, index: np.ndarray, batch: int, device: torch.device
) -> np.ndarray:
    """(N, 2): intensity on the target scale and pain probability of ``module``."""
    module.eval().to(device)
    out = []
    for start in range(0, len(index), batch):
        faces = torch.from_numpy(take_faces(store, np.asarray(index[start : start + batch])))
        value, prob = module(faces.to(device))
        out.append(torch.stack([value, prob], dim=1).float().cpu().numpy())
    module.cpu()
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def agreement(student: np.ndarray, teacher: np.ndarray, target_max: float) -> dict[str, Any]:
    """Student against teacher on the same faces: intensities on the target scale."""
    s, t = student[:, 0], teacher[:, 0]
    if not len(s):
        return {
            "n": 0,
            "mae": None,
            "mae_0_10": None,
            "pearson_r": None,
            "probability_mae": None,
            "pain_agreement": None,
        }
    mae = point.mae(s, t)
    return {
        "n": len(s),
        "mae": mae,
        "mae_0_10": mae * 10 / target_max,
        "pearson_r": point.pearson(s, t),
        "probability_mae": point.mae(student[:, 1], teacher[:, 1]),
        "pain_agreement": float(((student[:, 1] >= 0.5) == (teacher[:, 1] >= 0.5)).mean()),
    }


class _SoftTargets(Dataset[dict[str, torch.Tensor]]):
    """Training faces with the teacher's outputs (fraction of the scale, probability)."""

    def __init__(self, store: FaceStore, faces: np.ndarray, soft: np.ndarray) -> None:
        self.store, self.faces, self.soft = store, faces.astype(np.int64), soft.astype(np.float32)

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])

    def __getitems__(self, items: list[int]) -> dict[str, torch.Tensor]:
        i = np.asarray(items, dtype=np.int64)
        return {
            "face": torch.from_numpy(take_faces(self.store, self.faces[i])),
            "soft": torch.from_numpy(self.soft[i]),
        }


class DistillData(L.LightningDataModule):
    def __init__(
        self, store: FaceStore, faces: np.ndarray, soft: np.ndarray, batch_size: int, seed: int
    ) -> None:
        super().__init__()
        self.dataset = _SoftTargets(store, faces, soft)
        self.batch_size, self.seed = batch_size, seed

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(self.dataset), self.seed),
            collate_fn=collate_batch,
            pin_memory=torch.cuda.is_available(),
        )


class DistillModule(L.LightningModule):
    """The student and its loss against the teacher's soft targets."""

    def __init__(
        self,
        backbone: str,
        input_spec: dict[str, Any],
        head_hidden: list[int],
        dropout: float,
        lr: float,
        weight_decay: float,
        pain_loss_weight: float,
        flip: bool,
        seed: int,
        weights: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.spec = InputSpec.from_dict(input_spec)
        self.net = build_net(backbone, self.spec, head_hidden, dropout, weights)
        self.net.to(memory_format=torch.channels_last)
        self.epoch_losses: list[float | None] = []
        self._losses: list[float] = []

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Dropout draws from the global generator: seed it per step for exact resumption.
        torch.manual_seed(int(self.hparams["seed"]) * 7_919 + int(self.global_step))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        faces, soft = batch["face"], batch["soft"].float()
        if self.hparams["flip"]:
            # One generator per step, seeded from (seed, step): resuming replays exactly.
            gen = torch.Generator().manual_seed(
                int(self.hparams["seed"]) * 1_000_003 + int(self.global_step)
            )
            flip = (torch.rand(len(faces), generator=gen) < 0.5).to(faces.device)
            faces = torch.where(flip.view(-1, 1, 1, 1), faces.flip(2), faces)
        frac, logit = self.net(model_input(faces, self.spec))
        loss = F.mse_loss(frac.float(), soft[:, 0]) + float(
            self.hparams["pain_loss_weight"]
        ) * F.binary_cross_entropy_with_logits(logit.float(), soft[:, 1])
        self._losses.append(float(loss.detach()))
        self.log("train_loss", loss, prog_bar=True, batch_size=len(faces))
        return loss

    def on_train_epoch_end(self) -> None:
        self.epoch_losses.append(float(np.mean(self._losses)) if self._losses else None)
        self._losses = []

    # The loss history travels in the checkpoint, so a resumed run reports every epoch.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["epoch_losses"] = list(self.epoch_losses)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.epoch_losses = list(checkpoint.get("epoch_losses", []))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.net.parameters(),
            lr=float(self.hparams["lr"]),
            weight_decay=float(self.hparams["weight_decay"]),
        )


def run_distill(
    config: ExperimentConfig,
    table: FaceTable,
    out_dir: Path,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
) -> list[FoldResult]:
    """Train the student on the first subject-wise fold; returns [FoldResult]."""
    if config.teacher_model is None:
        raise UsageError("the distill stage needs teacher_model: the teacher model folder")
    if is_complete(out_dir):
        return [FoldResult("distill", out_dir, read_metrics(out_dir), reused=True)]
    teacher = load_model_folder(config.teacher_model)
    target_max = float(teacher.meta["target_max"])
    fold = make_folds(config, table.rows)[0]
    train_rows, test_rows = split_rows(table.rows, fold, config.split.allow_identity_leak)
    if len(train_rows) == 0:
        raise UsageError("no training faces for the student")
    bs = config.train.batch_size
    device = inference_device(config.trainer)
    teacher_scorer = FaceScorer(teacher)
    fit_index = train_rows["face"].to_numpy()
    test_index = test_rows["face"].to_numpy()
    soft = teacher_outputs(teacher_scorer, table.store, fit_index, bs, device)
    soft[:, 0] /= target_max  # the student learns the fraction of the scale

    L.seed_everything(config.train.seed, workers=True, verbose=False)
    m = config.model
    spec = InputSpec(size=m.input_size, normalisation=m.normalisation)
    module = DistillModule(
        backbone=m.backbone,
        input_spec=spec.to_dict(),
        head_hidden=m.head_hidden,
        dropout=m.dropout,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        pain_loss_weight=config.train.pain_loss_weight,
        flip=config.augment.flip,
        seed=config.train.seed,
        weights=str(m.weights) if m.weights is not None else None,
    )
    data = DistillData(table.store, fit_index, soft, bs, config.train.seed)
    trainer = make_trainer(
        config.trainer,
        out_dir,
        max_epochs=config.train.epochs,
        callbacks=callbacks,
        progress=progress,
    )
    run_fit(trainer, module, out_dir, datamodule=data)
    if not trainer.is_global_zero:
        return [FoldResult("distill", out_dir, {}, reused=False)]
    student = module.net.cpu().eval()
    history = module.epoch_losses

    meta_base = {
        "name": config.name,
        "version": config.version,
        "backbone": m.backbone,
        "input_spec": spec.to_dict(),
        "head_hidden": m.head_hidden,
        "dropout": m.dropout,
        "target_max": target_max,
    }
    student_scorer = FaceScorer(LoadedModel(student, meta_base, out_dir))
    held_s = teacher_outputs(student_scorer, table.store, test_index, bs, device)
    held_t = teacher_outputs(teacher_scorer, table.store, test_index, bs, device)
    agree = agreement(held_s, held_t, target_max)
    pred = test_rows.drop(columns=[c for c in ("face", "weight") if c in test_rows]).copy()
    pred = pred.rename(columns={"subject": "subject_id", "target": "reference"})
    pred["prediction"], pred["probability"] = held_s[:, 0], held_s[:, 1]
    pred["teacher"] = held_t[:, 0]
    threshold = float(teacher.meta.get("pain_threshold", config.data.pain_threshold))
    metrics = fold_metrics(pred, target_max, threshold)
    metrics.update(
        {
            "fold": fold.name,
            "agreement_with_teacher": agree,
            "teacher": _teacher_ref(teacher),
            "epochs_run": len(history),
            "train_loss": history,
            "n_train_subjects": int(train_rows["subject"].nunique()),
            "n_test_subjects": int(test_rows["subject"].nunique()),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / PREDICTIONS_FILE, "w", newline="") as handle:
        pred.to_csv(handle, index=False)
    # Before model.json (written last by save_model_folder): a folder that counts as
    # complete always has its agreement.
    atomic_write_text(out_dir / AGREEMENT_FILE, json.dumps(agree, indent=2))
    meta = {
        **meta_base,
        "stage": "distill",
        "target": teacher.meta.get("target", config.data.target),
        "pain_threshold": threshold,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pedpain_version": pedpain.__version__,
        "data_hash": table.data_hash(),
        "data": table.description,
        "split": config.split.kind,
        "fold": fold.name,
        "subjects_train": sorted(map(str, train_rows["subject"].unique())),
        "subjects_val": [],
        "subjects_test": sorted(map(str, test_rows["subject"].unique())),
        "source_model": None,
        "teacher": _teacher_ref(teacher),
        "synthetic_data": bool(
            table.preprocessing.get("synthetic", False) or teacher.meta.get("synthetic_data")
        ),
    }
    card = model_card(config, meta, metrics) + _agreement_text(agree, teacher.meta)
    save_model_folder(
        out_dir, student, meta, dump_config(config), table.preprocessing, metrics, card
    )
    return [FoldResult("distill", out_dir, metrics, reused=False)]


def _teacher_ref(teacher: LoadedModel) -> dict[str, Any]:
    return {
        "name": teacher.meta.get("name"),
        "version": teacher.meta.get("version"),
        "sha256": teacher.meta.get("sha256"),
        "backbone": teacher.meta.get("backbone"),
        "folder": str(teacher.folder),
    }


def _agreement_text(agree: dict[str, Any], teacher: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    return (
        "\n## Agreement with the teacher (held-out subjects)\n"
        f"- Teacher: {teacher.get('name')} {teacher.get('version')} "
        f"({teacher.get('backbone')}, sha256 {str(teacher.get('sha256'))[:16]}).\n"
        f"- Faces: {agree['n']}; MAE {fmt(agree['mae'])} (target scale), "
        f"{fmt(agree['mae_0_10'])} on 0-10; Pearson r {fmt(agree['pearson_r'])}; "
        f"pain / no pain agreement {fmt(agree['pain_agreement'])}.\n"
    )


__all__ = ["DistillModule", "agreement", "run_distill"]
