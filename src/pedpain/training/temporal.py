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

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_bytes, atomic_write_text
from pedpain.models.bundle import LoadedModel, load_model_folder
from pedpain.models.inputs import model_input
from pedpain.models.temporal import TEMPORAL_HEADS, robust_pool
from pedpain.training.config import ExperimentConfig

HIDDEN = 64


@torch.no_grad()
def embed_frames(
    model: LoadedModel, store: Any, faces: np.ndarray, batch: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (N, D), frame scores on the target scale (N,)) for faces ``faces``."""
    net = model.net.eval()
    embs, scores = [], []
    for start in range(0, len(faces), batch):
        chunk = torch.from_numpy(np.stack([store[int(i)] for i in faces[start : start + batch]]))
        features = net.backbone(model_input(chunk, model.spec))
        embs.append(net.head.embed(features).float().numpy())
        frac, _ = net.head(features)
        scores.append((frac.clamp(0, 1) * model.target_max).float().numpy())
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


def _collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
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
    def __init__(self, kind: str, dim: int, target_max: float, threshold: float, lr: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.head = TEMPORAL_HEADS[kind](dim, HIDDEN)

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


def run_temporal(
    config: ExperimentConfig, table: Any, out_dir: Path, progress: bool = False
) -> list[Any]:
    from pedpain.training.run import FoldResult

    if config.source_model is None:
        raise UsageError("the temporal stage needs source_model: the frame model folder")
    if (out_dir / "temporal.json").is_file() and (out_dir / "model.json").is_file():
        meta = json.loads((out_dir / "temporal.json").read_text(encoding="utf-8"))
        return [FoldResult("temporal", out_dir, meta["metrics"], reused=True)]
    frame_model = load_model_folder(config.source_model)
    rows = table.rows.reset_index(drop=True).copy()
    rows["_pos"] = np.arange(len(rows))
    embs, scores = embed_frames(
        frame_model, table.store, rows["face"].to_numpy(), config.train.batch_size
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
        kind, embs.shape[1], frame_model.target_max, config.data.pain_threshold, config.train.lr
    )
    loader: DataLoader[Any] = DataLoader(
        train,  # type: ignore[arg-type]  # a list of clips is a map-style dataset
        batch_size=min(16, len(train)),
        shuffle=True,
        collate_fn=_collate,
        generator=torch.Generator().manual_seed(config.train.seed),
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=config.train.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        deterministic=True,
        log_every_n_steps=1,
    )
    trainer.fit(module, loader)
    module.eval()
    metrics = _held_out(module, test, frame_model.target_max)
    metrics.update(
        {
            "kind": kind,
            "n_clips_train": len(train),
            "n_clips_test": len(test),
            "frame_model": str(config.source_model),
        }
    )

    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(
        config.source_model,
        out_dir,
        ignore=shutil.ignore_patterns("checkpoints", "logs", "temporal.*"),
    )
    buffer = io.BytesIO()
    torch.save(module.head.state_dict(), buffer)
    atomic_write_bytes(out_dir / "temporal.pt", buffer.getvalue())
    doc = {
        "kind": kind,
        "dim": int(embs.shape[1]),
        "hidden": HIDDEN,
        "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
        "metrics": metrics,
        # The folder's config.yaml and model.json are the frame model's; this run's own
        # experiment (data, split, training of the clip head) is kept here.
        "experiment": config.model_dump(mode="json"),
    }
    atomic_write_text(out_dir / "temporal.json", json.dumps(doc, indent=2, default=str))
    return [FoldResult("temporal", out_dir, metrics, reused=False)]


@torch.no_grad()
def _held_out(
    module: TemporalModule, clips: list[dict[str, Any]], target_max: float
) -> dict[str, Any]:
    if not clips:
        return {"n": 0, "mae": None, "pooling_mae": None, "pcc": None}
    batch = _collate(clips)
    frac, _ = module.head(batch["frames"], batch["mask"])
    pred = frac.clamp(0, 1).numpy() * target_max
    pooled = np.array([robust_pool(c["scores"]) for c in clips])
    truth = batch["target"].numpy()
    pcc = (
        float(np.corrcoef(pred, truth)[0, 1])
        if len(truth) > 2 and pred.std() > 0 and truth.std() > 0
        else None
    )
    return {
        "n": len(clips),
        "n_subjects": len({c["subject"] for c in clips}),
        "mae": float(np.abs(pred - truth).mean()),
        "pooling_mae": float(np.abs(pooled - truth).mean()),
        "pcc": pcc,
    }
