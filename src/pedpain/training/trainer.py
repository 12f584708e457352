"""The one Lightning trainer every stage (source, transfer, distill, temporal, GAN) runs on.

The ``trainer`` section of a config (accelerator, devices, strategy, nodes, precision,
step limits, determinism) means the same in every stage, and every stage gets the same
checkpoints (``checkpoints/last.ckpt`` after each epoch, written atomically), the same
logs (CSV and TensorBoard under ``logs/``) and the same progress bar. A rerun of a killed
run resumes from ``last.ckpt``; with data order and augmentation seeded per epoch and
step (each stage's job), it ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from pedpain.core.files import atomic_write_bytes
from pedpain.models.bundle import CHECKPOINTS_DIR
from pedpain.training.chatter import ignore_lightning_chatter
from pedpain.training.config import TrainerConfig
from pedpain.training.resume import prepare_resume, resumable_loggers

LAST_CHECKPOINT = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary name and renamed: a kill during the write
    leaves the previous checkpoint intact instead of a truncated one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


def resolve_precision(setting: str) -> str:
    """``auto``: bf16 mixed precision on a GPU that supports it, 32-bit otherwise."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def inference_device(settings: TrainerConfig) -> torch.device:
    """Where a stage scores faces outside the fit (a teacher's targets, a frame model's
    embeddings): the GPU when the trainer would use one, else the CPU."""
    wants_gpu = settings.accelerator in ("auto", "gpu", "cuda")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def last_checkpoint(folder: Path) -> Path:
    return folder / CHECKPOINTS_DIR / LAST_CHECKPOINT


def make_trainer(
    settings: TrainerConfig,
    folder: Path,
    *,
    max_epochs: int,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
) -> L.Trainer:
    """A Trainer writing checkpoints and logs into ``folder``; ``callbacks`` are the
    stage's own (early stopping, freezing) and any the caller adds (monitoring).

    A killed run's temporaries are swept first, and its logs continue in the same version
    folder without the epochs the rerun logs again (``training.resume``)."""
    resume = prepare_resume(folder)
    every_epoch = ModelCheckpoint(
        # The newest epoch, overwritten each epoch under one name: what a rerun resumes
        # from. (save_last with save_top_k=0 would only write at the very end of training.)
        dirpath=folder / CHECKPOINTS_DIR,
        filename=Path(LAST_CHECKPOINT).stem,
        monitor=None,
        save_top_k=1,
        save_last=False,
        every_n_epochs=1,
        enable_version_counter=False,
    )
    return L.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        num_nodes=settings.num_nodes,
        precision=resolve_precision(settings.precision),  # type: ignore[arg-type]
        max_epochs=max_epochs,
        max_steps=settings.max_steps,
        limit_train_batches=settings.limit_train_batches,
        log_every_n_steps=settings.log_every_n_steps,
        deterministic=settings.deterministic,
        callbacks=[*callbacks, every_epoch],
        logger=resumable_loggers(folder, resume),
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # our samplers shard by rank themselves
        default_root_dir=folder,
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
    )


def run_fit(
    trainer: L.Trainer,
    module: L.LightningModule,
    folder: Path,
    *,
    datamodule: L.LightningDataModule | None = None,
    train_dataloaders: Any = None,
) -> None:
    """``trainer.fit``, resumed from the folder's last checkpoint when a run was killed."""
    last = last_checkpoint(folder)
    with warnings.catch_warnings():
        ignore_lightning_chatter()
        trainer.fit(
            module,
            train_dataloaders=train_dataloaders,
            datamodule=datamodule,
            ckpt_path=str(last) if last.is_file() else None,
        )
