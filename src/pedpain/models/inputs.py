"""Turning stored faces (uint8, H x W x 3, RGB) into model input, identically in training
and at the bedside: resize to the backbone's size, then standardise."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pedpain.models.registry import InputSpec


def to_float(batch_uint8: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, size, size) float in [0, 1]."""
    x = batch_uint8.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    return x


def standardise(x: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """The protocol's mean-square scaling (per image) or dataset mean/std normalisation."""
    if spec.normalisation == "per_image":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
        return (x - mean) / std
    m = torch.tensor(spec.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(spec.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def model_input(batch_uint8: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    x = standardise(to_float(batch_uint8, spec.size), spec)
    return x.contiguous(memory_format=torch.channels_last)
