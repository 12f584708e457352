"""The LightningModule for pain intensity + pain/no-pain, used by every stage.

The Trainer owns devices, precision, checkpoints, DDP and progress bars; this module
only says how a batch becomes a loss and which parameters train at which rate.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import BaseFinetuning

from pedpain.evaluation import metrics as point
from pedpain.models.heads import PainHead, PainNet
from pedpain.models.inputs import model_input, standardise, to_float
from pedpain.models.registry import InputSpec, create_backbone
from pedpain.training.augment import augment_batch
from pedpain.training.config import AugmentConfig


def build_net(
    backbone: str, spec: InputSpec, head_hidden: list[int], dropout: float, weights: Any = None
) -> PainNet:
    bb = create_backbone(backbone, weights=weights, spec=spec)
    return PainNet(bb, PainHead(bb.feature_dim, head_hidden, dropout))


class PainModule(L.LightningModule):
    def __init__(
        self,
        backbone: str = "vgg16",
        input_spec: dict[str, Any] | None = None,
        head_hidden: list[int] | None = None,
        dropout: float = 0.3,
        target_max: float = 16.0,
        pain_threshold: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        pain_loss_weight: float = 0.5,
        pos_weight: float = 1.0,
        augment: dict[str, Any] | None = None,
        finetune_lr_factor: float = 0.1,
        seed: int = 0,
        max_epochs: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.spec = InputSpec.from_dict(input_spec) if input_spec else InputSpec()
        self.net = build_net(backbone, self.spec, head_hidden or [256], dropout)
        self.augment_cfg = AugmentConfig(**augment) if augment is not None else None
        self._val_outputs: list[tuple[np.ndarray, np.ndarray]] = []

    # -- inference -------------------------------------------------------------------
    def forward(self, faces_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stored faces (B, H, W, 3) uint8 -> (intensity on the target scale, pain prob)."""
        frac, logit = self.net(model_input(faces_uint8, self.spec))
        return frac.clamp(0, 1) * self.hparams["target_max"], torch.sigmoid(logit)

    # -- training --------------------------------------------------------------------
    def _prepare(self, faces: torch.Tensor, train: bool) -> torch.Tensor:
        x = to_float(faces, self.spec.size)
        if train and self.augment_cfg is not None:
            # One generator per step, seeded from (seed, step): resuming replays exactly.
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(self.hparams["seed"]) * 1_000_003 + int(self.global_step))
            x = augment_batch(x, self.augment_cfg, gen)
        return standardise(x, self.spec).contiguous(memory_format=torch.channels_last)

    def _loss(
        self, batch: dict[str, torch.Tensor], train: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._prepare(batch["face"], train)
        frac, logit = self.net(x)
        target = batch["target"].float()
        tmax = float(self.hparams["target_max"])
        reg = F.smooth_l1_loss(frac, target / tmax, reduction="none", beta=0.05)
        weights = batch["weight"].float()
        reg = (reg * weights).sum() / weights.sum().clamp_min(1e-6)
        is_pain = (target >= float(self.hparams["pain_threshold"])).float()
        pos_weight = torch.tensor(float(self.hparams["pos_weight"]), device=logit.device)
        cls = F.binary_cross_entropy_with_logits(logit.float(), is_pain, pos_weight=pos_weight)
        loss = reg + float(self.hparams["pain_loss_weight"]) * cls
        return loss, frac.detach().clamp(0, 1) * tmax

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Dropout draws from the global generator: seed it per step for exact resumption.
        torch.manual_seed(int(self.hparams["seed"]) * 7_919 + int(self.global_step))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch, train=True)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch["target"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, pred = self._loss(batch, train=False)
        self.log(
            "val_loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["target"].shape[0]
        )
        self._val_outputs.append(
            (pred.float().cpu().numpy(), batch["target"].float().cpu().numpy())
        )

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        pred = np.concatenate([p for p, _ in self._val_outputs])
        true = np.concatenate([t for _, t in self._val_outputs])
        self._val_outputs.clear()
        self.log("val_mae", point.mae(pred, true), prog_bar=True, sync_dist=True)
        pcc = point.pearson(pred, true)
        if pcc is not None:
            self.log("val_pcc", pcc, sync_dist=True)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.net.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
        )
        # Stepped per batch: the scheduler state in an end-of-epoch checkpoint is then
        # exactly the state the next batch needs (Lightning saves before its epoch step).
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class FreezeThenFinetune(BaseFinetuning):
    """Transfer learning as the protocol describes: keep the convolutional and pooling
    layers frozen while the new fully connected layers learn, then (optionally) unfreeze
    everything at a lower learning rate."""

    def __init__(self, unfreeze_at_epoch: int | None, lr_factor: float) -> None:
        super().__init__()
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.lr_factor = lr_factor

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        self.freeze(pl_module.net.backbone, train_bn=False)  # type: ignore[union-attr]

    def finetune_function(
        self, pl_module: L.LightningModule, current_epoch: int, optimizer: torch.optim.Optimizer
    ) -> None:
        if self.unfreeze_at_epoch is not None and current_epoch == self.unfreeze_at_epoch:
            base_lr = optimizer.param_groups[0]["lr"]
            self.unfreeze_and_add_param_group(
                modules=pl_module.net.backbone,  # type: ignore[union-attr]
                optimizer=optimizer,
                lr=base_lr * self.lr_factor,
                initial_denom_lr=1.0,
                train_bn=True,
            )
