"""Aggregating frame-level evidence over a clip.

Deep Pain (Rodriguez et al. 2017) ran an LSTM over per-frame CNN features. pedpain
offers a small attention-pooling head and a GRU over frame embeddings, and, as the
baseline that needs no training, robust pooling of per-frame scores.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def robust_pool(scores: np.ndarray, trim: float = 0.1) -> float:
    """Trimmed mean of frame scores: drops the top and bottom ``trim`` share.

    Robust to the few frames where a blink or a tracking slip gives an outlying score.
    """
    values = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite frame scores to pool")
    cut = int(np.floor(values.size * trim))
    kept = values[cut : values.size - cut] if values.size - 2 * cut > 0 else values
    return float(kept.mean())


class AttentionPool(nn.Module):
    """Softmax attention over frames: (B, T, D) embeddings + (B, T) mask -> (B, 2) outputs."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.out = nn.Linear(dim, 2)

    def forward(
        self, frames: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        weights = self.score(frames).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(weights, dim=1).nan_to_num(0.0)  # all-masked clip -> zeros
        pooled = torch.einsum("bt,btd->bd", weights, frames)
        out = self.out(pooled)
        return out[:, 0], out[:, 1]


class GruPool(nn.Module):
    """A GRU over the valid frames of a clip; its last state gives the clip's outputs."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(
        self, frames: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            frames, lengths, batch_first=True, enforce_sorted=False
        )
        _, last = self.gru(packed)
        out = self.out(last[-1])
        return out[:, 0], out[:, 1]


TEMPORAL_HEADS = {"attention": AttentionPool, "gru": GruPool}
