"""Training the conditional GAN: its configuration, LightningModule, data and runner.

``pedpain augment gan-train --config configs/gan_unbc64.yaml`` reads a YAML with the
same ``data`` and ``split`` sections as ``pedpain train`` (so the GAN sees exactly the
training subjects of the pain model it will augment, never its validation or test
subjects), plus ``gan``, ``train``, ``quality`` and ``trainer`` sections (``GanConfig``).

Two optimisers (generator, discriminator) with Lightning's manual optimisation, hinge loss,
spectral norm in the discriminator and an optional R1 penalty on real faces, an EMA copy of
the generator, checkpoints after every epoch; a rerun resumes from ``checkpoints/last.ckpt``
and, because the data order (per epoch) and the noise and flips (per iteration) are
seeded, ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch.utils.data import DataLoader, Dataset

import pedpain
from pedpain.core.errors import UsageError
from pedpain.core.logging import get_logger
from pedpain.core.settings import read_config_file
from pedpain.data.faces import FaceTable
from pedpain.models.gan import (
    Discriminator,
    GanSpec,
    Generator,
    augment_for_critic,
    ema_update,
    from_uint8,
    generate,
    mode_seeking_ratio,
)
from pedpain.models.gan_bundle import load_gan_folder, save_gan_folder
from pedpain.training.config import (
    DataConfig,
    ExperimentConfig,
    SplitConfig,
    TrainerConfig,
    apply_overrides,
)
from pedpain.training.datamodule import EpochSampler, FaceStore
from pedpain.training.folds import make_folds, split_rows, validation_subjects
from pedpain.training.synthetic import real_only
from pedpain.training.trainer import make_trainer, run_fit

log = get_logger(__name__)

#: Adaptive augmentation: change of the probability per generator update (0 -> 0.5 in 250
#: updates; ADA's 500k images are far beyond a CPU run) and its ceiling (strong
#: augmentation early in a short run keeps the generator from forming faces at all).
AUGMENT_STEP = 0.002
AUGMENT_MAX = 0.6
#: Mode seeking: mean |G(z1) - G(z2)| / |z1 - z2| below this is penalised (images in
#: [-1, 1]; two faces of the demo phantom differ by 0.38 mean absolute, unit-noise pairs by
#: 1.13, so diverse real-like pairs sit near 0.34).
MODE_SEEKING_FLOOR = 0.15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GanNetConfig(_Strict):
    size: Literal[64, 128] = 64
    z_dim: int = Field(default=128, ge=2)
    embed_dim: int = Field(default=32, ge=1)
    base_channels: int = Field(default=32, ge=2)
    spectral_norm: bool = True
    #: Minibatch standard deviation channel in the discriminator (against mode collapse).
    minibatch_std: bool = True


class GanTrainConfig(_Strict):
    batch_size: int = Field(default=32, ge=2)
    #: Generator updates (each follows one discriminator update).
    iterations: int = Field(default=2000, ge=1)
    lr_g: float = Field(default=2e-4, gt=0)
    lr_d: float = Field(default=2e-4, gt=0)
    beta1: float = Field(default=0.0, ge=0, lt=1)
    beta2: float = Field(default=0.99, ge=0, lt=1)
    #: R1 gradient penalty on real faces (Mescheder et al.); 0 turns it off.
    r1_gamma: float = Field(default=0.0, ge=0)
    ema_decay: float = Field(default=0.999, ge=0, lt=1)
    #: Random horizontal flips of real faces (faces are near-symmetric; doubles the data).
    flip: bool = True
    #: Differentiable augmentation of every face the discriminator sees (real and fake):
    #: ``adaptive`` tunes its probability to keep the critic from overfitting (ADA's
    #: heuristic: E[sign D(real)] near ``augment_target``), ``fixed`` uses ``augment_p``,
    #: ``none`` (or YAML's ``off``/``false``) none.
    augment: Literal["none", "fixed", "adaptive"] = "adaptive"
    augment_p: float = Field(default=0.0, ge=0, le=1)
    augment_target: float = Field(default=0.6, gt=0, lt=1)
    #: Weight of the mode-seeking term (two noises at one level must give different
    #: faces); 0 turns it off.
    mode_seeking: float = Field(default=1.0, ge=0)
    seed: int = 0

    @field_validator("augment", mode="before")
    @classmethod
    def _no_augment(cls, value: Any) -> Any:
        # YAML reads a bare `off` as false.
        return "none" if value is False or value == "off" else value

    num_workers: int = Field(default=0, ge=0)


class GanQualityConfig(_Strict):
    #: A pedpain pain-model folder trained on real faces: its features give the Frechet
    #: distance and its scores the conditioning check. None skips both.
    encoder: Path | None = None
    #: Generated faces per level for the quality measures.
    per_level: int = Field(default=32, ge=1)


class GanTrainerConfig(TrainerConfig):
    """The same ``trainer.*`` settings as every stage (devices, strategy, nodes, ...);
    32-bit by default: the adversarial losses are sensitive to reduced precision."""

    precision: str = "32-true"
    log_every_n_steps: int = 20


class GanConfig(_Strict):
    name: str = "pain-gan"
    version: str = "0.1.0"
    out: Path | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    gan: GanNetConfig = Field(default_factory=GanNetConfig)
    train: GanTrainConfig = Field(default_factory=GanTrainConfig)
    quality: GanQualityConfig = Field(default_factory=GanQualityConfig)
    trainer: GanTrainerConfig = Field(default_factory=GanTrainerConfig)

    def experiment(self) -> ExperimentConfig:
        """The data and split as a training experiment sees them (same folds)."""
        return ExperimentConfig(data=self.data, split=self.split)

    @property
    def target_max(self) -> float:
        return self.experiment().target_max

    @property
    def n_levels(self) -> int:
        return round(self.target_max) + 1

    def spec(self) -> GanSpec:
        g = self.gan
        return GanSpec(
            size=g.size,
            n_levels=self.n_levels,
            z_dim=g.z_dim,
            embed_dim=g.embed_dim,
            base_channels=g.base_channels,
            spectral_norm=g.spectral_norm,
            minibatch_std=g.minibatch_std,
        )


def load_gan_config(
    path: str | Path | None, overrides: list[str] | None = None, allow_stage: bool = False
) -> GanConfig:
    """``allow_stage``: a ``stage: gan`` key (how ``train_from_config`` tells a GAN
    config) is accepted and dropped."""
    doc = read_config_file(path) if path is not None else {}
    doc = apply_overrides(doc, overrides or [])
    if allow_stage and doc.get("stage") == "gan":
        doc.pop("stage", None)
    if "stage" in doc or "model" in doc:
        raise UsageError(
            "this looks like a pain-model config (stage/model); the GAN config has sections "
            "data, split, gan, train, quality, trainer (see configs/gan_unbc64.yaml)"
        )
    try:
        config = GanConfig.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        if first.get("type") == "extra_forbidden":
            raise UsageError(f"unknown GAN setting '{loc}' (check for a typo)") from None
        raise UsageError(f"invalid GAN setting '{loc}': {first.get('msg')}") from None
    if config.data.root is None:
        raise UsageError("data.root is not set: the UNBC tree or the preprocessed faces folder")
    return config


def levels_of(targets: np.ndarray, n_levels: int) -> np.ndarray:
    """Integer conditioning levels on the target's own scale (PSPI 0-16, pain 0-10)."""
    return np.clip(np.rint(targets), 0, n_levels - 1).astype(np.int64)


# -- data -------------------------------------------------------------------------------
def resize_faces(store: FaceStore, positions: np.ndarray, size: int) -> np.ndarray:
    """Stored faces -> (N, size, size, 3) uint8, area-averaged (the GAN's resolution)."""
    out = np.empty((len(positions), size, size, 3), np.uint8)
    for i, pos in enumerate(positions.tolist()):
        face = np.asarray(store[int(pos)])
        if face.shape[0] != size:
            face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
        out[i] = face
    return out


class _GanFaces(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, faces: np.ndarray, levels: np.ndarray) -> None:
        self.faces, self.levels = faces, levels

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "face": torch.from_numpy(self.faces[i]),
            "level": torch.tensor(int(self.levels[i])),
        }


class GanDataModule(L.LightningDataModule):
    def __init__(
        self, faces: np.ndarray, levels: np.ndarray, batch_size: int, seed: int, workers: int = 0
    ) -> None:
        super().__init__()
        self.faces, self.levels = faces, levels
        self.batch_size, self.seed, self.workers = batch_size, seed, workers

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        dataset = _GanFaces(self.faces, self.levels)
        return DataLoader(
            dataset,
            batch_size=min(self.batch_size, len(dataset)),
            sampler=EpochSampler(len(dataset), self.seed, shuffle=True),
            num_workers=self.workers,
            persistent_workers=self.workers > 0,
            # Batch norm in the generator needs more than one face per batch.
            drop_last=True,
        )


# -- the Lightning module -------------------------------------------------------------
class GanModule(L.LightningModule):
    def __init__(
        self,
        spec: dict[str, Any],
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        beta1: float = 0.0,
        beta2: float = 0.99,
        r1_gamma: float = 0.0,
        ema_decay: float = 0.999,
        flip: bool = True,
        seed: int = 0,
        augment: str = "none",
        augment_p: float = 0.0,
        augment_target: float = 0.6,
        mode_seeking: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        gan_spec = GanSpec.from_dict(spec)
        self.generator = Generator(gan_spec)
        self.discriminator = Discriminator(gan_spec)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        # Counts generator updates; in the checkpoint, so noise and EMA resume exactly.
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        # The augmentation probability (adapted during training) and the running sign of
        # D(real) that drives it; buffers, so a resumed run continues where it stopped.
        start_p = float(augment_p) if augment != "none" else 0.0
        self.register_buffer("augment_prob", torch.tensor(start_p, dtype=torch.float64))
        self.register_buffer("real_sign", torch.zeros((), dtype=torch.float64))

    @property
    def iterations_done(self) -> int:
        return int(self.get_buffer("iteration"))

    def forward(self, z: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return self.generator_ema(z, level)

    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.generator.spec.z_dim, generator=gen).to(self.device)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()  # type: ignore[attr-defined]
        hp = self.hparams
        step = self.iterations_done
        gen = torch.Generator(device="cpu").manual_seed(int(hp["seed"]) * 1_000_003 + step)
        real = from_uint8(batch["face"])
        level = batch["level"].long()
        n = real.shape[0]
        if hp["flip"]:
            flip = (torch.rand(n, generator=gen) < 0.5).to(self.device).view(n, 1, 1, 1)
            real = torch.where(flip, real.flip(-1), real)

        # Discriminator: hinge loss, real faces of a level against fakes of that level,
        # both through the same random augmentation.
        p = float(self.get_buffer("augment_prob"))

        def critic(x: torch.Tensor) -> torch.Tensor:
            return self.discriminator(augment_for_critic(x, p, gen), level)

        self.discriminator.requires_grad_(True)
        with torch.no_grad():
            fake = self.generator(self._noise(n, gen), level)
        r1 = float(hp["r1_gamma"]) > 0
        real = real.detach().requires_grad_(r1)
        d_real = critic(real)
        d_fake = critic(fake)
        loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
        penalty = torch.zeros((), device=self.device)
        if r1:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            penalty = grad.pow(2).sum(dim=(1, 2, 3)).mean()
            loss_d = loss_d + 0.5 * float(hp["r1_gamma"]) * penalty
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()

        # Generator: fool the (frozen) discriminator. With mode seeking, the second half of
        # the batch repeats the first half's levels with fresh noise, and the generator is
        # rewarded when the two faces of a pair differ (no extra forward passes).
        self.discriminator.requires_grad_(False)
        z = self._noise(n, gen)
        weight = float(hp["mode_seeking"])
        half = n // 2
        g_level = level
        if weight > 0 and half >= 1:
            g_level = torch.cat([level[:half], level[:half], level[2 * half :]])
        fake = self.generator(z, g_level)
        loss_g = -self.discriminator(augment_for_critic(fake, p, gen), g_level).mean()
        seeking = torch.zeros((), device=self.device)
        if weight > 0 and half >= 1:
            seeking = mode_seeking_ratio(
                fake[:half], fake[half : 2 * half], z[:half], z[half : 2 * half]
            )
            # A hinge, not MSGAN's 1/ratio: bounded, and silent once pairs differ about as
            # much as two children do (1/ratio swamped the adversarial loss on a CPU-short
            # run and taught the generator noise).
            loss_g = loss_g + weight * F.relu(MODE_SEEKING_FLOOR - seeking)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.discriminator.requires_grad_(True)

        # EMA with a warm-up, so short runs are not dominated by the random initial weights.
        decay = min(float(hp["ema_decay"]), (1.0 + step) / (10.0 + step))
        ema_update(self.generator_ema, self.generator, decay)
        self.iteration.add_(1)  # type: ignore[operator]
        if hp["augment"] == "adaptive":
            # ADA's overfitting heuristic: the critic is too sure of the real faces when
            # E[sign D(real)] exceeds the target; then augment more, else less.
            sign = float(torch.sign(d_real.detach()).mean())
            running = 0.9 * float(self.get_buffer("real_sign")) + 0.1 * sign
            self.real_sign.fill_(running)  # type: ignore[operator]
            step_p = AUGMENT_STEP if running > float(hp["augment_target"]) else -AUGMENT_STEP
            self.augment_prob.fill_(min(AUGMENT_MAX, max(0.0, p + step_p)))  # type: ignore[operator]
        self.log_dict(
            {
                "loss_d": loss_d.detach(),
                "loss_g": loss_g.detach(),
                "d_real": d_real.detach().mean(),
                "d_fake": d_fake.detach().mean(),
                "r1": penalty.detach(),
                "augment_p": torch.tensor(p),
                "mode_seeking": seeking.detach(),
            },
            prog_bar=True,
            batch_size=n,
        )

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        betas = (float(hp["beta1"]), float(hp["beta2"]))
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp["lr_g"], betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp["lr_d"], betas=betas)
        return [opt_g, opt_d]


class _StopAfter(L.Callback):
    """Ends training after ``iterations`` generator updates, whatever the epoch."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        if pl_module.iterations_done >= self.iterations:
            trainer.should_stop = True


# -- the runner -----------------------------------------------------------------------
def training_rows(config: GanConfig, rows: pd.DataFrame) -> tuple[pd.DataFrame, str, set[Any]]:
    """The rows the GAN may learn from: the training subjects of the split's first (or
    selected) fold, without its validation subjects. Returns (rows, fold name, held out)."""
    experiment = config.experiment()
    fold = make_folds(experiment, rows)[0]
    leak = config.split.allow_identity_leak
    train, test = split_rows(rows, fold, leak)
    val = (
        set() if leak else validation_subjects(train, config.split.val_fraction, config.split.seed)
    )
    fit = train[~train["subject"].isin(val)]
    fit = real_only(fit)  # a GAN never learns from synthetic faces
    if len(fit) < 2:
        raise UsageError(f"fold {fold.name} leaves fewer than 2 training faces for the GAN")
    held_out = set(map(str, test["subject"].unique())) | set(map(str, val))
    return fit, fold.name, held_out


def run_gan(
    config: GanConfig,
    table: FaceTable,
    folder: Path,
    progress: bool = False,
    callbacks: Sequence[L.Callback] = (),
) -> dict[str, Any]:
    """Train (or resume, or reuse) the GAN into ``folder``; returns its metrics."""
    import json

    if (folder / "gan.json").is_file():
        done = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        return {**done, "reused": True}
    fit, fold_name, held_out = training_rows(config, table.rows)
    spec = config.spec()
    faces = resize_faces(table.store, fit["face"].to_numpy(), spec.size)
    levels = levels_of(fit["target"].to_numpy(dtype=np.float64), spec.n_levels)
    t = config.train
    if len(faces) < t.batch_size:
        log.warning("fewer faces than one batch; the batch shrinks to %d", len(faces))

    L.seed_everything(t.seed, workers=True, verbose=False)
    module = GanModule(
        spec.to_dict(),
        lr_g=t.lr_g,
        lr_d=t.lr_d,
        beta1=t.beta1,
        beta2=t.beta2,
        r1_gamma=t.r1_gamma,
        ema_decay=t.ema_decay,
        flip=t.flip,
        seed=t.seed,
        augment=t.augment,
        augment_p=t.augment_p,
        augment_target=t.augment_target,
        mode_seeking=t.mode_seeking,
    )
    data = GanDataModule(faces, levels, t.batch_size, t.seed, t.num_workers)
    per_epoch = max(1, len(faces) // min(t.batch_size, len(faces)))
    trainer = make_trainer(
        config.trainer,
        folder,
        max_epochs=math.ceil(t.iterations / per_epoch),
        callbacks=[_StopAfter(t.iterations), *callbacks],
        progress=progress,
    )
    run_fit(trainer, module, folder, datamodule=data)
    if not trainer.is_global_zero:
        return {}
    module.eval()
    module.cpu()
    losses = _last_losses(folder / "logs" / "csv")
    metrics: dict[str, Any] = {
        "iterations": module.iterations_done,
        "epochs": int(trainer.current_epoch),
        "n_faces": len(faces),
        "n_subjects": int(fit["subject"].nunique()),
        "level_counts": {
            int(k): int(v) for k, v in zip(*np.unique(levels, return_counts=True), strict=True)
        },
        **losses,
    }
    if config.quality.encoder is not None:
        from pedpain.training.gan_quality import gan_quality

        metrics["quality"] = gan_quality(
            module.generator_ema, config.quality.encoder, faces, levels, config.quality.per_level
        )
    meta = {
        "name": config.name,
        "version": config.version,
        "kind": "conditional-dcgan",
        "conditioning": "pain level (integer, target scale), projection discriminator",
        "spec": spec.to_dict(),
        "target": config.data.target,
        "target_max": config.target_max,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pedpain_version": pedpain.__version__,
        "data_hash": table.data_hash(),
        "data": table.description,
        "split": config.split.kind,
        "fold": fold_name,
        "subjects_train": sorted(map(str, fit["subject"].unique())),
        "subjects_held_out": sorted(held_out),
        "synthetic_training_data": bool(table.preprocessing.get("synthetic", False)),
    }
    grid = sample_grid_png(module.generator_ema, seed=t.seed)
    save_gan_folder(
        folder,
        {
            "generator": module.generator,
            "generator_ema": module.generator_ema,
            "discriminator": module.discriminator,
        },
        meta,
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
        metrics,
        gan_card(config, meta, metrics),
        grid,
    )
    load_gan_folder(folder)  # proves the folder reads back (checksums, shapes)
    return {**metrics, "reused": False}


def _last_losses(logs: Path) -> dict[str, Any]:
    """Mean of the last logged values of each loss (over the last 10 logged steps)."""
    files = sorted(logs.glob("**/metrics.csv"))
    if not files:
        return {}
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    out: dict[str, Any] = {}
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "r1", "augment_p", "mode_seeking"):
        if key in frame:
            values = frame[key].dropna().to_numpy(dtype=float)
            if len(values):
                out[f"final_{key}"] = float(values[-10:].mean())
    return out


def sample_grid_png(generator: Generator, seed: int = 0, columns: int = 8) -> bytes:
    """One row per pain level, ``columns`` faces each, the level written at the left."""
    spec = generator.spec
    levels = torch.arange(spec.n_levels).repeat_interleave(columns)
    faces = generate(generator, levels, seed=seed).numpy()
    s = spec.size
    margin = 28 if s <= 64 else 40
    grid = np.full((spec.n_levels * s, margin + columns * s, 3), 255, np.uint8)
    for i, face in enumerate(faces):
        r, c = divmod(i, columns)
        grid[r * s : (r + 1) * s, margin + c * s : margin + (c + 1) * s] = face
    for level in range(spec.n_levels):
        cv2.putText(
            grid,
            f"L{level}",
            (2, level * s + s // 2 + 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35 if s <= 64 else 0.5,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    ok, buf = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def gan_card(config: GanConfig, meta: dict[str, Any], metrics: dict[str, Any]) -> str:
    quality = metrics.get("quality") or {}
    lines = [
        f"# Model card: {config.name} {config.version} (conditional GAN)",
        "",
        f"> {pedpain.DISCLAIMER}",
        "",
        "## What it is",
        "- **A generator of SYNTHETIC faces.** Nothing it makes shows a real person or a "
        "real pain level; its samples are for training-set augmentation only and must never "
        "enter a validation or test set (pedpain refuses them there).",
        f"- Conditional DCGAN, {config.gan.size} px, conditioned on the integer "
        f"{config.data.target} level 0-{config.target_max:g}; spectral norm in the "
        f"discriminator{', R1 penalty' if config.train.r1_gamma > 0 else ''}; "
        f"discriminator augmentation {config.train.augment}; mode-seeking weight "
        f"{config.train.mode_seeking:g}; sampling uses the exponential moving average of "
        "the generator.",
        "",
        "## Data",
        f"- {meta.get('data') or 'unspecified'}; data hash `{meta['data_hash'][:16]}`.",
        f"- Trained on the {len(meta['subjects_train'])} training subjects of fold "
        f"{meta['fold']} ({config.split.kind}); the {len(meta['subjects_held_out'])} "
        "validation and test subjects of that fold were never shown to it.",
    ]
    if meta.get("synthetic_training_data"):
        lines.append("- Its training faces were themselves synthetic (phantom data).")
    lines += [
        "",
        "## Training and quality",
        f"- {metrics['iterations']} iterations on {metrics['n_faces']} faces; final losses "
        f"D {metrics.get('final_loss_d', float('nan')):.3f}, "
        f"G {metrics.get('final_loss_g', float('nan')):.3f}.",
    ]
    if quality:
        lines.append(
            f"- Frechet distance on features of the pedpain encoder {quality['encoder']} "
            f"(not Inception: no downloaded Inception weights exist here): "
            f"{quality['frechet_distance']:.3f} (real-vs-real baseline "
            f"{quality['frechet_real_baseline']:.3f})."
        )
        lines.append(
            f"- Conditioning check: the encoder scores generated faces at a mean absolute "
            f"deviation of {quality['conditioning_mad']:.3f} from the requested level "
            f"(correlation {quality['conditioning_r']}); on real faces it is "
            f"{quality['real_mad']:.3f}."
        )
        if quality.get("diversity_ratio") is not None:
            lines.append(
                f"- Diversity within a level: generated faces differ from each other "
                f"{quality['diversity_ratio']:.0%} as much as real faces of the same level "
                f"(target {quality['diversity_target']:.0%}: "
                f"{'met' if quality['diversity_met'] else 'NOT met'})."
            )
    else:
        lines.append("- No quality measures (quality.encoder was not set).")
    lines += [
        "",
        "## Limits",
        "- Small-data GAN: expect blurred, averaged faces and weaker conditioning at rare "
        "levels. Whether its samples help a pain model is an empirical question: see "
        "`pedpain augment ablation`.",
        "- The licence of the weights follows the licence of the training data.",
        "",
        "## Checksum",
        "- generator_ema.pt SHA-256: `{sha256}`",
        "",
    ]
    return "\n".join(lines)
