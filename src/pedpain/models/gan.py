"""A conditional DCGAN for aligned face crops, conditioned on the pain level.

- ``Generator``: noise ``z`` concatenated with a learned embedding of the integer pain
  level, projected to a 4x4 map, then upsampling blocks (nearest x2 + 3x3 conv, batch norm,
  ReLU) to 64 or 128 px, ``tanh`` output in [-1, 1].
- ``Discriminator``: strided 4x4 convolutions with leaky ReLU and spectral norm on every
  layer (Miyato et al.), global sum pooling, an unconditional score plus a *projection*
  term ``<embed(level), features>`` (Miyato & Koyama): the conditioning pushes the critic to
  judge "is this a real face *of this level*", not only "is this a real face".
- ``ema_update``: the exponential moving average of the generator's weights, which makes
  far smoother samples than the raw generator on small data.
- ``augment_for_critic``: differentiable augmentation of every image the discriminator
  sees, real and generated alike (DiffAugment, Zhao et al. 2020; with the adaptive
  probability of ADA, Karras et al. 2020): on a few hundred faces the critic otherwise
  memorises the training faces and the generator collapses to one face per level.
- ``mode_seeking_ratio``: how much two noise vectors' faces differ per unit of noise
  distance at the same level (after Mao et al. 2019); the generator is penalised when it
  falls below a floor (a hinge, see ``pedpain.training.gan``), so the noise, not only the
  level, decides the face.

A trained GAN is a folder (``pedpain.models.gan_bundle``), like the pain models.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SIZES = (64, 128)


@dataclass(frozen=True)
class GanSpec:
    """What fixes the networks' shapes; stored in the GAN folder to rebuild them."""

    size: int = 64
    n_levels: int = 17
    z_dim: int = 128
    embed_dim: int = 32
    #: Channels of the widest generator layer is ``base * 8`` (at 4x4), halving per block.
    base_channels: int = 32
    spectral_norm: bool = True
    #: The batch's feature spread as an extra discriminator channel (against collapse).
    minibatch_std: bool = True

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"GAN size must be one of {SIZES}, not {self.size}")
        if self.n_levels < 1:
            raise ValueError("n_levels must be at least 1")

    @property
    def n_blocks(self) -> int:
        # 4 -> 64 is four doublings, 4 -> 128 five.
        return {64: 4, 128: 5}[self.size]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GanSpec:
        # Folders written before minibatch_std existed were built without it.
        data = {"minibatch_std": False, **data}
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _widths(spec: GanSpec) -> list[int]:
    """Channels from the 4x4 map outwards: base*8, base*4, base*2, base, base (capped)."""
    widths = [spec.base_channels * 8]
    for _ in range(spec.n_blocks):
        widths.append(max(spec.base_channels // 2, widths[-1] // 2))
    return widths


class Generator(nn.Module):
    def __init__(self, spec: GanSpec) -> None:
        super().__init__()
        self.spec = spec
        widths = _widths(spec)
        self.embed = nn.Embedding(spec.n_levels, spec.embed_dim)
        self.project = nn.Sequential(
            nn.Linear(spec.z_dim + spec.embed_dim, widths[0] * 16, bias=False),
            nn.BatchNorm1d(widths[0] * 16),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        for cin, cout in itertools.pairwise(widths):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.to_rgb = nn.Conv2d(widths[-1], 3, 3, padding=1)
        self.width0 = widths[0]

    def forward(self, z: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """z: (B, z_dim); level: (B,) int64 in [0, n_levels). Returns (B, 3, S, S) in [-1, 1]."""
        h = self.project(torch.cat([z, self.embed(level)], dim=1))
        h = h.view(-1, self.width0, 4, 4)
        return torch.tanh(self.to_rgb(self.blocks(h)))


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature standard deviation as one more channel (after
    StyleGAN): a critic that sees how varied a batch is can punish a generator that makes
    the same face for every noise vector."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        spread = h.std(dim=0, unbiased=False).mean() if h.shape[0] > 1 else h.new_zeros(())
        return torch.cat([h, spread.expand(h.shape[0], 1, *h.shape[2:])], dim=1)


class Discriminator(nn.Module):
    def __init__(self, spec: GanSpec) -> None:
        super().__init__()
        self.spec = spec
        sn = spectral_norm if spec.spectral_norm else (lambda m: m)
        widths = list(reversed(_widths(spec)))  # narrow at full size, wide at 4x4
        layers: list[nn.Module] = [sn(nn.Conv2d(3, widths[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        for cin, cout in itertools.pairwise(widths):
            layers += [sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        if spec.minibatch_std:
            layers += [
                MinibatchStd(),
                sn(nn.Conv2d(widths[-1] + 1, widths[-1], 3, padding=1)),
                nn.LeakyReLU(0.2),
            ]
        self.body = nn.Sequential(*layers)
        self.score = sn(nn.Linear(widths[-1], 1))
        self.embed = sn(nn.Embedding(spec.n_levels, widths[-1]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) in [-1, 1]; returns (B,) realness scores (hinge loss scale)."""
        h = self.features(x)
        projection = (self.embed(level) * h).sum(dim=1)
        return self.score(h).squeeze(1) + projection


def augment_for_critic(
    x: torch.Tensor, p: float, gen: torch.Generator, translate: float = 0.125
) -> torch.Tensor:
    """Each image, with probability ``p`` per transform: brightness, saturation and
    contrast jitter, an integer translation of up to ``translate`` of the side (zero
    padding), and a cutout of a quarter of the side. Differentiable in ``x``; the random
    draws come from ``gen`` (CPU), so a run is reproducible and resumes exactly."""
    if p <= 0:
        return x
    n, _, h, w = x.shape
    dev = x.device

    def draw(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(dev)

    def on() -> torch.Tensor:
        return (draw(n, 1, 1, 1) < p).to(x.dtype)

    x = x + on() * (draw(n, 1, 1, 1) - 0.5) * 0.5  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = mean + (x - mean) * (1 + on() * (draw(n, 1, 1, 1) * 2 - 1) * 0.5)  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * (1 + on() * (draw(n, 1, 1, 1) - 0.5) * 0.6)  # contrast
    # Translation: gather from a shifted grid, zeros outside.
    shift = (draw(n, 2) * 2 - 1) * translate
    moved = (draw(n) < p).to(x.dtype)
    dy = torch.round(shift[:, 0] * h * moved).long()
    dx = torch.round(shift[:, 1] * w * moved).long()
    yy = torch.arange(h, device=dev).view(1, h, 1) - dy.view(n, 1, 1)
    xx = torch.arange(w, device=dev).view(1, 1, w) - dx.view(n, 1, 1)
    inside = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)).unsqueeze(1).to(x.dtype)
    index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(n, 1, h * w).expand(-1, 3, -1)
    x = torch.gather(x.reshape(n, 3, h * w), 2, index).view(n, 3, h, w) * inside
    # Cutout: a square of side/4 set to zero, where drawn.
    cut = (draw(n) < p).view(n, 1, 1, 1)
    size = max(1, h // 4)
    cy = (draw(n) * h).long().view(n, 1, 1)
    cx = (draw(n) * w).long().view(n, 1, 1)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    hole = ((ys - cy).abs() <= size // 2) & ((xs - cx).abs() <= size // 2)
    return torch.where(cut & hole.unsqueeze(1), torch.zeros_like(x), x)


def mode_seeking_ratio(
    a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor
) -> torch.Tensor:
    """Mean |G(za) - G(zb)| / |za - zb| over a batch (both at the same levels)."""
    image = (a - b).abs().mean(dim=(1, 2, 3))
    noise = (za - zb).abs().mean(dim=1)
    return (image / (noise + 1e-8)).mean()


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers (batch-norm
    statistics) are copied, since averaging running statistics has no meaning."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) in [-1, 1] -> (B, S, S, 3) uint8, the layout of stored faces."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous()


def from_uint8(faces: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float in [-1, 1]."""
    return faces.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@torch.no_grad()
def generate(
    generator: Generator, levels: torch.Tensor, seed: int, batch_size: int = 64
) -> torch.Tensor:
    """Faces for the given levels as (B, S, S, 3) uint8, reproducible from ``seed``."""
    generator.eval()
    device = next(generator.parameters()).device
    rng = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for start in range(0, len(levels), batch_size):
        part = levels[start : start + batch_size]
        z = torch.randn(len(part), generator.spec.z_dim, generator=rng)
        out.append(to_uint8(generator(z.to(device), part.to(device))).cpu())
    if not out:
        s = generator.spec.size
        return torch.zeros(0, s, s, 3, dtype=torch.uint8)
    return torch.cat(out)
