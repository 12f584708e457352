"""One registry and one factory for backbones, each carrying its own input specification.

``create_backbone("resnet50", weights=PATH)`` builds the convolutional part of a network
(everything up to and including global pooling; the fully connected layers belong to the
head, because transfer learning keeps the former and replaces the latter). Weights come
only from a local file the user names: a torchvision state dict of the full classifier
network, or a state dict of the backbone itself. There is no download path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class InputSpec:
    """What a backbone expects: square RGB input of ``size`` and how pixels are scaled.

    ``normalisation`` is ``"per_image"`` (the protocol's mean-square scaling: each face to
    zero mean and unit variance) or ``"dataset"`` (subtract ``mean``, divide by ``std``
    per channel, as ImageNet-pretrained weights expect).
    """

    size: int = 165
    normalisation: str = "per_image"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(
            size=int(data["size"]),
            normalisation=str(data["normalisation"]),
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
        )


class Backbone(nn.Module):
    """A feature extractor: (B, 3, S, S) float -> (B, feature_dim)."""

    def __init__(self, name: str, body: nn.Module, feature_dim: int, spec: InputSpec) -> None:
        super().__init__()
        self.name = name
        self.body = body
        self.feature_dim = feature_dim
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.body(x), 1)


Builder = Callable[
    [], tuple[nn.Module, int, Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]]
]
_REGISTRY: dict[str, Builder] = {}


def register_backbone(name: str) -> Callable[[Builder], Builder]:
    """Decorator: a builder returns (body, feature_dim, torchvision-state-dict adapter)."""

    def wrap(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} registered twice")
        _REGISTRY[name] = builder
        return builder

    return wrap


def available_backbones() -> list[str]:
    from pedpain.models.backbones import BUILTIN  # loaded on first use: torchvision

    for name, builder in BUILTIN.items():
        _REGISTRY.setdefault(name, builder)
    return sorted(_REGISTRY)


def create_backbone(
    name: str, weights: str | Path | None = None, spec: InputSpec | None = None
) -> Backbone:
    """Build backbone ``name``; load ``weights`` from a local file if given."""
    names = available_backbones()
    if name not in _REGISTRY:
        raise UsageError(f"unknown backbone {name!r} (known: {', '.join(names)})")
    body, dim, adapt = _REGISTRY[name]()
    backbone = Backbone(name, body, dim, spec or InputSpec())
    if weights is None:
        log.info(
            "backbone initialised from scratch (no weights file given)", extra={"backbone": name}
        )
    else:
        load_backbone_weights(backbone, Path(weights), adapt)
    return backbone


def load_backbone_weights(
    backbone: Backbone,
    path: Path,
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
) -> None:
    """Load a local state dict, with a clear error when shapes or names do not match."""
    if not path.is_file():
        raise EnvironmentProblem(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise EnvironmentProblem(f"cannot read weights file {path}: {type(exc).__name__}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EnvironmentProblem(f"weights file {path} does not hold a state dict")
    body_state = (
        adapt(state)
        if not any(k.startswith("body.") for k in state)
        else {k[len("body.") :]: v for k, v in state.items() if k.startswith("body.")}
    )
    own = backbone.body.state_dict()
    missing = [k for k in own if k not in body_state]
    wrong = [
        f"{k} {tuple(body_state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in body_state and tuple(body_state[k].shape) != tuple(v.shape)
    ]
    if missing or wrong:
        detail = f"{len(missing)} missing tensors" if missing else ""
        if wrong:
            detail += ("; " if detail else "") + f"shape mismatch {wrong[0]}"
        raise EnvironmentProblem(f"weights in {path} do not fit backbone {backbone.name}: {detail}")
    backbone.body.load_state_dict({k: body_state[k] for k in own})
    log.info("backbone weights loaded", extra={"backbone": backbone.name, "file": str(path)})
