"""A trained GAN is a folder, like the pain models (``pedpain.models.bundle``):

    GAN/
      generator.pt        generator state dict (last training step)
      generator_ema.pt    exponential-moving-average generator (used for sampling)
      discriminator.pt    discriminator state dict (to continue or inspect training)
      gan.json            format "pedpain-gan", GanSpec, target scale, training subjects,
                          SHA-256 of every weights file, "synthetic": true; written last
      config.yaml         the exact GAN configuration
      samples.png         sample grid of the EMA generator, one row per pain level
      metrics.json        training losses and quality measures
      model_card.md       what it is, that its output is SYNTHETIC, limits
      checkpoints/, logs/ Lightning checkpoints (resume) and loss logs

Everything a GAN writes is synthetic: ``gan.json`` says so, and so does every sample
folder made from it (``pedpain.training.synthetic``).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.files import atomic_write_bytes, atomic_write_text
from pedpain.models.gan import Discriminator, GanSpec, Generator

GAN_FORMAT = "pedpain-gan"
GAN_FORMAT_VERSION = 1
WEIGHTS = {
    "generator": "generator.pt",
    "generator_ema": "generator_ema.pt",
    "discriminator": "discriminator.pt",
}


@dataclass
class LoadedGan:
    generator: Generator
    generator_ema: Generator
    discriminator: Discriminator
    meta: dict[str, Any]
    folder: Path

    @property
    def spec(self) -> GanSpec:
        return self.generator.spec

    @property
    def target_max(self) -> float:
        return float(self.meta["target_max"])


def _state_bytes(net: nn.Module) -> bytes:
    handle = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, handle)
    return handle.getvalue()


def save_gan_folder(
    folder: Path,
    nets: dict[str, nn.Module],
    meta: dict[str, Any],
    config_yaml: str,
    metrics: dict[str, Any],
    card: str,
    grid_png: bytes,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for key, name in WEIGHTS.items():
        data = _state_bytes(nets[key])
        atomic_write_bytes(folder / name, data)
        sums[key] = hashlib.sha256(data).hexdigest()
    meta = {
        **meta,
        "format": GAN_FORMAT,
        "format_version": GAN_FORMAT_VERSION,
        "synthetic": True,
        "sha256": sums,
    }
    atomic_write_text(folder / "config.yaml", config_yaml)
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2, default=str))
    atomic_write_text(folder / "model_card.md", card.replace("{sha256}", sums["generator_ema"]))
    atomic_write_bytes(folder / "samples.png", grid_png)
    atomic_write_text(folder / "gan.json", json.dumps(meta, indent=2, default=str))
    return folder


def load_gan_folder(folder: str | Path) -> LoadedGan:
    """Load and verify a GAN folder. A missing folder is a usage error (exit 2), a
    folder that is not a GAN (a pain model, anything else) too; damaged weights are an
    environment problem (exit 4)."""
    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"no GAN model folder at {path} (not a folder)")
    meta_file = path / "gan.json"
    if not meta_file.is_file():
        if (path / "model.json").is_file():
            raise UsageError(f"{path} is a pain model folder, not a GAN (no gan.json)")
        raise UsageError(f"{path} is not a GAN model folder (no gan.json)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EnvironmentProblem(f"cannot read {meta_file}") from None
    if not isinstance(meta, dict) or meta.get("format") != GAN_FORMAT:
        raise UsageError(f"{path} is not a GAN model folder (gan.json format is not {GAN_FORMAT})")
    spec = GanSpec.from_dict(meta["spec"])
    nets: dict[str, nn.Module] = {
        "generator": Generator(spec),
        "generator_ema": Generator(spec),
        "discriminator": Discriminator(spec),
    }
    for key, name in WEIGHTS.items():
        file = path / name
        if not file.is_file():
            raise EnvironmentProblem(f"GAN folder {path} lacks {name}")
        data = file.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"][key]:
            raise EnvironmentProblem(
                f"weights {file} do not match their checksum (altered or damaged file)"
            )
        try:
            nets[key].load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
        except Exception as exc:
            raise EnvironmentProblem(f"cannot load {file}: {type(exc).__name__}") from None
        nets[key].eval()
    return LoadedGan(
        generator=nets["generator"],  # type: ignore[arg-type]
        generator_ema=nets["generator_ema"],  # type: ignore[arg-type]
        discriminator=nets["discriminator"],  # type: ignore[arg-type]
        meta=meta,
        folder=path,
    )
