"""Augmentation on batched tensors (on the GPU when there is one): the protocol's random
rotation, crop (scale + shift) and flip, plus brightness and contrast jitter.

Each face in a batch gets its own random transform, drawn from an explicit generator so
a run can be replayed exactly (resume gives the same weights as an uninterrupted run).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pedpain.training.config import AugmentConfig


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """x: (B, 3, H, W) float in [0, 1]. Returns a transformed copy, same shape and range."""
    b = x.shape[0]
    dev = x.device

    def uniform(scale: float) -> torch.Tensor:
        return (torch.rand(b, generator=generator, device=generator.device) * 2 - 1).to(dev) * scale

    angle = uniform(math.radians(cfg.rotation_deg))
    zoom = 1.0 + uniform(cfg.scale)
    shift_x, shift_y = uniform(cfg.translate), uniform(cfg.translate)
    flip = (
        (torch.rand(b, generator=generator, device=generator.device) < 0.5).to(dev)
        if cfg.flip
        else torch.zeros(b, dtype=torch.bool, device=dev)
    )
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    sign = torch.where(flip, -1.0, 1.0).to(x.dtype)
    theta = torch.stack(
        [
            torch.stack([cos * sign, -sin, shift_x], dim=1),
            torch.stack([sin * sign, cos, shift_y], dim=1),
        ],
        dim=1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    bright = (1.0 + uniform(cfg.brightness)).view(b, 1, 1, 1).to(x.dtype)
    contrast = (1.0 + uniform(cfg.contrast)).view(b, 1, 1, 1).to(x.dtype)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean) * bright
    return out.clamp(0.0, 1.0)
