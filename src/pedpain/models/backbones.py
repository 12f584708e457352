"""The protocol's backbones (torchvision definitions) and a compact bedside one.

- ``vgg16``: the 13 convolutional layers with their 5 max-pooling stages, then adaptive
  pooling; the two fully connected layers of the protocol live in the head.
- ``resnet50``: the four residual stages and global average pooling.
- ``vgg16_resnet50``: the protocol's integration of both: their pooled features
  concatenated, regressed together by one head.
- ``mobilenet_v3_large`` and ``resnet18``: compact networks for the bedside and fast tests.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from torch import nn

#: A builder returns (body, feature_dim, torchvision-state-dict adapter).
Builder = Callable[
    [], tuple[nn.Module, int, Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]]
]
#: The built-in backbones by name; ``pedpain.models.registry`` adds them to its table
#: (this module knows nothing of the registry, so the two do not import each other).
BUILTIN: dict[str, Builder] = {}


def _builtin(name: str) -> Callable[[Builder], Builder]:
    def wrap(builder: Builder) -> Builder:
        BUILTIN[name] = builder
        return builder

    return wrap


def _strip(prefix_map: dict[str, str]):  # type: ignore[no-untyped-def]
    """Adapter from a torchvision classifier state dict to the body's key names."""

    def adapt(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in state.items():
            for src, dst in prefix_map.items():
                if key.startswith(src):
                    out[dst + key[len(src) :]] = value
        return out

    return adapt


class _VggBody(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        net = torchvision.models.vgg16(weights=None)
        self.features = net.features
        # Global average pooling instead of torchvision's 7x7 adaptive pool: the input is
        # 165 px (5x5 feature map), and a fixed-size output keeps any input size valid.
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x))


@_builtin("vgg16")
def _vgg16():  # type: ignore[no-untyped-def]
    return _VggBody(), 512, _strip({"features.": "features."})


class _ResnetBody(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)  # type: ignore[arg-type]
        self.layers = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)  # type: ignore[arg-type]
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(self.stem(x)))


def _resnet_adapter():  # type: ignore[no-untyped-def]
    return _strip(
        {
            "conv1.": "stem.0.",
            "bn1.": "stem.1.",
            "layer1.": "layers.0.",
            "layer2.": "layers.1.",
            "layer3.": "layers.2.",
            "layer4.": "layers.3.",
        }
    )


@_builtin("resnet50")
def _resnet50():  # type: ignore[no-untyped-def]
    return _ResnetBody(torchvision.models.resnet50(weights=None)), 2048, _resnet_adapter()


@_builtin("resnet18")
def _resnet18():  # type: ignore[no-untyped-def]
    return _ResnetBody(torchvision.models.resnet18(weights=None)), 512, _resnet_adapter()


class _FusionBody(nn.Module):
    """VGG-16 and ResNet-50 side by side; their pooled features concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.vgg = _VggBody()
        self.resnet = _ResnetBody(torchvision.models.resnet50(weights=None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.flatten(self.vgg(x), 1), torch.flatten(self.resnet(x), 1)], dim=1)


@_builtin("vgg16_resnet50")
def _fusion():  # type: ignore[no-untyped-def]
    vgg_adapt = _strip({"features.": "vgg.features."})
    res_adapt = _resnet_adapter()

    def adapt(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # A fusion file holds both ("vgg."/"resnet." prefixes); a single torchvision file
        # can only fill one side and is refused by the shape/name check.
        if any(k.startswith(("vgg.", "resnet.")) for k in state):
            return dict(state)
        return {**vgg_adapt(state), **{"resnet." + k: v for k, v in res_adapt(state).items()}}

    return _FusionBody(), 512 + 2048, adapt


class _MobileBody(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        net = torchvision.models.mobilenet_v3_large(weights=None)
        self.features = net.features
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x))


@_builtin("mobilenet_v3_large")
def _mobilenet():  # type: ignore[no-untyped-def]
    return _MobileBody(), 960, _strip({"features.": "features."})
