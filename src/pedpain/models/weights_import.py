"""Turn published pre-trained weights into the state dict ``model.weights`` takes.

The protocol starts from a VGG-16 pre-trained on faces. Two sources are understood:

- ``vggface``: VGG-Face (Parkhi, Vedaldi and Zisserman, "Deep Face Recognition", BMVC
  2015), as its PyTorch conversions distribute it: layers named ``conv1_1`` ...
  ``conv5_3``, ``fc6``, ``fc7``, ``fc8``. The 13 convolutions map to torchvision's
  ``features.N``, ``fc6``/``fc7`` to ``classifier.0``/``classifier.3``; ``fc8`` (2,622
  identities) is dropped: its classes are not ours.
- ``torchvision``: a torchvision ImageNet checkpoint of the same network (keys already
  ``features.N``/``classifier.N``; ``classifier.6``, the 1,000 ImageNet classes, dropped).

Every tensor is checked against the backbone's own shapes before anything is written;
the output (written atomically) is a torchvision-layout state dict, and next to it a
``.json`` record holds the source's SHA-256, the kind and the name mapping.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.files import atomic_write_bytes, atomic_write_text
from pedpain.models.bundle import sha256_file

Kind = Literal["vggface", "torchvision"]

#: torchvision vgg16: positions of the 13 convolutions in ``features``.
VGG16_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_CONV_NAMES = tuple(
    f"conv{block}_{i}"
    for block, count in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for i in range(1, count + 1)
)
#: Kept fully connected layers (their classifier positions); the last one is dropped.
VGG16_FC = {"fc6": 0, "fc7": 3}
DROPPED = {"vggface": ("fc8",), "torchvision": ("classifier.6",)}


def vggface_mapping() -> dict[str, str]:
    """VGG-Face layer name -> torchvision vgg16 layer name."""
    mapping = {
        src: f"features.{idx}" for src, idx in zip(VGG16_CONV_NAMES, VGG16_CONV_INDEX, strict=True)
    }
    mapping.update({src: f"classifier.{idx}" for src, idx in VGG16_FC.items()})
    return mapping


def vgg16_shapes() -> dict[str, tuple[int, ...]]:
    """The shapes of torchvision's vgg16 state dict, less the ImageNet classes."""
    import torchvision

    net = torchvision.models.vgg16(weights=None)
    return {
        k: tuple(v.shape) for k, v in net.state_dict().items() if not k.startswith("classifier.6")
    }


@dataclass
class ImportReport:
    out: Path
    record: Path
    source_sha256: str
    tensors: int
    dropped: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "record": str(self.record),
            "source_sha256": self.source_sha256,
            "tensors": self.tensors,
            "dropped": self.dropped,
        }


def _read_state(src: Path) -> dict[str, torch.Tensor]:
    if not src.is_file():
        raise UsageError(f"weights file not found: {src}")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file it cannot read
        raise UsageError(
            f"{src} is not a PyTorch state dict ({type(exc).__name__}); convert Torch .t7 "
            "or Caffe files to a PyTorch state dict first"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"{src} does not hold a state dict (names -> tensors)")
    # Checkpoints saved from DataParallel carry a "module." prefix.
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _map_names(state: dict[str, torch.Tensor], kind: Kind) -> dict[str, torch.Tensor]:
    if kind == "torchvision":
        return {k: v for k, v in state.items() if not k.startswith(DROPPED["torchvision"])}
    mapping = vggface_mapping()
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        layer, _, param = key.rpartition(".")
        if layer in DROPPED["vggface"]:
            continue
        if layer not in mapping or param not in ("weight", "bias"):
            unknown.append(key)
            continue
        out[f"{mapping[layer]}.{param}"] = value
    if unknown:
        raise UsageError(
            f"not VGG-Face layer names: {', '.join(sorted(unknown)[:3])}"
            f"{' ...' if len(unknown) > 3 else ''} (expected conv1_1 ... conv5_3, fc6, fc7, fc8)"
        )
    return out


def _check_shapes(
    mapped: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]], kind: Kind
) -> dict[str, torch.Tensor]:
    reverse = {v: k for k, v in vggface_mapping().items()} if kind == "vggface" else {}

    def named(key: str) -> str:
        layer, _, param = key.rpartition(".")
        return f"{reverse[layer]}.{param} ({key})" if layer in reverse else key

    missing = [k for k in expected if k not in mapped]
    if missing:
        raise UsageError(
            f"the file lacks {len(missing)} of vgg16's tensors, first {named(missing[0])}"
        )
    extra = [k for k in mapped if k not in expected]
    if extra:
        raise UsageError(f"tensors vgg16 does not have: {', '.join(extra[:3])}")
    fitted = {}
    for key, shape in expected.items():
        value = mapped[key]
        # Some conversions keep fc6 in its convolutional form (4096, 512, 7, 7).
        convolutional_fc = key.startswith("classifier.") and value.ndim == 4
        if convolutional_fc and value.numel() == int(torch.Size(shape).numel()):
            value = value.reshape(shape)
        if tuple(value.shape) != shape:
            raise UsageError(
                f"shape mismatch: {named(key)} is {tuple(value.shape)}, vgg16 needs {shape}"
            )
        fitted[key] = value.detach().to(torch.float32).contiguous()
    return fitted


def import_weights(src: Path, kind: Kind, backbone: str, out: Path) -> ImportReport:
    """Map ``src`` onto ``backbone``'s torchvision layout and write it to ``out``."""
    if backbone != "vgg16":
        raise UsageError(f"weights import knows backbone vgg16 only, not {backbone!r}")
    if kind not in ("vggface", "torchvision"):
        raise UsageError(f"--kind must be vggface or torchvision, not {kind!r}")
    state = _read_state(src)
    fitted = _check_shapes(_map_names(state, kind), vgg16_shapes(), kind)
    buffer = io.BytesIO()
    torch.save(fitted, buffer)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, buffer.getvalue())
        record = out.with_name(out.name + ".json")
        source_sha = sha256_file(src)
        dropped = sorted(k for k in state if k.startswith(DROPPED[kind]))
        doc: dict[str, Any] = {
            "kind": kind,
            "backbone": backbone,
            "layout": "torchvision vgg16 state dict (features.N, classifier.0/3)",
            "source": str(src),
            "source_sha256": source_sha,
            "sha256": sha256_file(out),
            "tensors": len(fitted),
            "dropped": dropped,
            "mapping": vggface_mapping() if kind == "vggface" else "identity",
        }
        atomic_write_text(record, json.dumps(doc, indent=2))
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {out}: {exc.strerror or exc}") from None
    return ImportReport(out, record, source_sha, len(fitted), dropped)
