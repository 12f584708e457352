"""Pain heads: the fully connected layers that transfer learning replaces.

One head predicts two things from a face's features, trained jointly:
- ``intensity``: pain intensity as a fraction of the target scale's maximum (PSPI 0-16
  for the adult source model, 0-10 for children), unbounded during training and clamped
  to [0, 1] when read;
- ``logit``: pain / no pain.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class PainHead(nn.Module):
    def __init__(self, in_dim: int, hidden: Sequence[int] = (256,), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.embedding_dim = width
        self.out = nn.Linear(width, 2)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return self.trunk(features)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.out(self.trunk(features))
        return out[:, 0], out[:, 1]


class PainNet(nn.Module):
    """Backbone + head: (B, 3, S, S) standardised faces -> (intensity fraction, logit)."""

    def __init__(self, backbone: nn.Module, head: PainHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.backbone(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.embed(self.backbone(x))
