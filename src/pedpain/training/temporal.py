"""Stage ``temporal``: a clip-level head over a frame model's embeddings.

Deep Pain (Rodriguez et al. 2017) ran an LSTM over per-frame CNN features. Here the frame
model (``source_model``: a trained model folder) stays fixed; each clip's frames are
embedded once (the head's penultimate layer), and a small attention-pooling or GRU head
(``temporal.kind``) learns the clip's score from the sequence. Clips of the frame
model's training subjects train the head; the other subjects' clips measure it against
the baseline that needs no training, the trimmed mean of frame scores.

The output is a copy of the frame model's folder plus ``temporal.pt`` and
``temporal.json`` (kind, sizes, checksum, held-out metrics), which ``pedpain assess``
loads for clips.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from pedpain.core.errors import UsageError
from pedpain.data.faces import FaceStore, FaceTable, take_faces
from pedpain.evaluation import metrics as point
from pedpain.models.bundle import (
    CHECKPOINTS_DIR,
    TEMPORAL_FILE,
    TEMPORAL_META,
    LoadedModel,
    is_complete,
    load_model_folder,
    read_temporal,
    write_temporal,
)
from pedpain.models.inputs import model_input
from pedpain.models.temporal import TEMPORAL_HEADS, robust_pool
from pedpain.training.config import ExperimentConfig
from pedpain.training.datamodule import EpochSampler
from pedpain.training.folds import FoldResult
from pedpain.training.trainer import inference_device, make_trainer, run_fit

HIDDEN = 64


@torch.no_grad()
def embed_frames(
    model: LoadedModel,
    store: FaceStore,
    faces: np.ndarray,
    batch: int = 64,
    device: torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (N, D), frame scores on the target scale (N,)) for faces ``faces``."""
    device = device or torch.device("cpu")
    net = model.net.eval().to(device)
    embs, scores = [], []
    for start in range(0, len(faces), batch):
        chunk = torch.from_numpy(take_faces(store, np.asarray(faces[start : start + batch])))
        features = net.backbone(model_input(chunk.to(device), model.spec))
        embs.append(net.head.embed(features).float().cpu().numpy())
        frac, _ = net.head(features)
        scores.append((frac.clamp(0, 1) * model.target_max).float().cpu().numpy())
    net.cpu()
    return np.concatenate(embs), np.concatenate(scores)


def _sequences(
    rows: pd.DataFrame, embs: np.ndarray, scores: np.ndarray, max_frames: int
) -> list[dict[str, Any]]:
    clips = []
    for clip, group in rows.groupby("clip", sort=True):
        if len(group) < 2:  # photos: one face, nothing to aggregate
            continue
        group = group.sort_values("frame")
        pos = group["_pos"].to_numpy()
        if len(pos) > max_frames:
            pos = pos[np.linspace(0, len(pos) - 1, max_frames).round().astype(int)]
        clips.append(
            {
                "clip": clip,
                "subject": str(group["subject"].iloc[0]),
                "target": float(group["target"].iloc[0]),
                "emb": embs[pos],
                "scores": scores[pos],
            }
        )
    return clips


def collate_clips(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    longest = max(len(b["emb"]) for b in batch)
    dim = batch[0]["emb"].shape[1]
    frames = torch.zeros(len(batch), longest, dim)
    mask = torch.zeros(len(batch), longest, dtype=torch.bool)
    for i, b in enumerate(batch):
        n = len(b["emb"])
        frames[i, :n] = torch.from_numpy(b["emb"])
        mask[i, :n] = True
    return {
        "frames": frames,
        "mask": mask,
        "target": torch.tensor([b["target"] for b in batch], dtype=torch.float32),
    }


class TemporalModule(L.LightningModule):
    def __init__(
        self, kind: str, dim: int, target_max: float, threshold: float, lr: float, seed: int = 0
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.head = TEMPORAL_HEADS[kind](dim, HIDDEN)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Any randomness in the head draws from the global generator: seeded per step.
        torch.manual_seed(int(self.hparams["seed"]) * 7_919 + int(self.global_step))

    def training_step(self, batch: dict[str, torch.Tensor], _: int) -> torch.Tensor:
        frac, logit = self.head(batch["frames"], batch["mask"])
        target = batch["target"]
        tmax = float(self.hparams["target_max"])
        loss = F.smooth_l1_loss(frac, target / tmax, beta=0.05) + 0.5 * (
            F.binary_cross_entropy_with_logits(
                logit, (target >= float(self.hparams["threshold"])).float()
            )
        )
        self.log("train_loss", loss, batch_size=len(target))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.head.parameters(), lr=float(self.hparams["lr"]), weight_decay=1e-4
        )


class _Clips(Dataset[dict[str, Any]]):
    def __init__(self, clips: list[dict[str, Any]]) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.clips[i]


def run_temporal(
    config: ExperimentConfig,
    table: FaceTable,
    out_dir: Path,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
) -> list[FoldResult]:
    if config.source_model is None:
        raise UsageError("the temporal stage needs source_model: the frame model folder")
    done = read_temporal(out_dir) if is_complete(out_dir) else None
    if done is not None:
        return [FoldResult("temporal", out_dir, done["metrics"], reused=True)]
    frame_model = load_model_folder(config.source_model)
    rows = table.rows.reset_index(drop=True).copy()
    rows["_pos"] = np.arange(len(rows))
    embs, scores = embed_frames(
        frame_model,
        table.store,
        rows["face"].to_numpy(),
        config.train.batch_size,
        inference_device(config.trainer),
    )
    clips = _sequences(rows, embs, scores, max_frames=64)
    seen = set(frame_model.meta.get("subjects_train", [])) | set(
        frame_model.meta.get("subjects_val", [])
    )
    train = [c for c in clips if c["subject"] in seen]
    test = [c for c in clips if c["subject"] not in seen]
    if len(train) < 2:
        raise UsageError(
            "the temporal stage needs clips (videos) of the frame model's "
            f"training subjects; found {len(train)}"
        )
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    kind = config.temporal_kind
    module = TemporalModule(
        kind,
        embs.shape[1],
        frame_model.target_max,
        config.data.pain_threshold,
        config.train.lr,
        config.train.seed,
    )
    loader: DataLoader[Any] = DataLoader(
        _Clips(train),
        batch_size=min(16, len(train)),
        # Seeded per epoch (not one generator for the run): a resumed run sees the
        # order an uninterrupted one would.
        sampler=EpochSampler(len(train), config.train.seed),
        collate_fn=collate_clips,
    )
    trainer = make_trainer(
        config.trainer,
        out_dir,
        max_epochs=config.train.epochs,
        callbacks=callbacks,
        progress=progress,
    )
    run_fit(trainer, module, out_dir, train_dataloaders=loader)
    if not trainer.is_global_zero:
        return [FoldResult("temporal", out_dir, {}, reused=False)]
    module.cpu().eval()
    metrics = _held_out(module, test, frame_model.target_max)
    metrics.update(
        {
            "kind": kind,
            "n_clips_train": len(train),
            "n_clips_test": len(test),
            "frame_model": str(config.source_model),
        }
    )

    # The frame model's files next to this run's checkpoints and logs; the clip head's
    # record is written last and marks the folder complete.
    shutil.copytree(
        config.source_model,
        out_dir,
        ignore=shutil.ignore_patterns(CHECKPOINTS_DIR, "logs", TEMPORAL_FILE, TEMPORAL_META),
        dirs_exist_ok=True,
    )
    buffer = io.BytesIO()
    torch.save(module.head.state_dict(), buffer)
    doc = {
        "kind": kind,
        "dim": int(embs.shape[1]),
        "hidden": HIDDEN,
        "metrics": metrics,
        # The folder's config.yaml and model.json are the frame model's; this run's own
        # experiment (data, split, training of the clip head) is kept here.
        "experiment": config.model_dump(mode="json"),
    }
    write_temporal(out_dir, buffer.getvalue(), doc)
    return [FoldResult("temporal", out_dir, metrics, reused=False)]


@torch.no_grad()
def _held_out(
    module: TemporalModule, clips: list[dict[str, Any]], target_max: float
) -> dict[str, Any]:
    if not clips:
        return {"n": 0, "mae": None, "pooling_mae": None, "pcc": None}
    batch = collate_clips(clips)
    frac, _ = module.head(batch["frames"], batch["mask"])
    pred = frac.clamp(0, 1).numpy() * target_max
    pooled = np.array([robust_pool(c["scores"]) for c in clips])
    truth = batch["target"].numpy()
    return {
        "n": len(clips),
        "n_subjects": len({c["subject"] for c in clips}),
        "mae": point.mae(pred, truth),
        "pooling_mae": point.mae(pooled, truth),
        "pcc": point.pearson(pred, truth),
    }
