"""A trained model is a folder (after MONAI bundles): weights, the config that made it,
its preprocessing, metrics and a model card. ``assess`` and ``serve`` load this folder
and nothing else; the weights' SHA-256 is checked on every load.

    MODEL/
      model.pt            state dict of the PainNet (backbone + head)
      model.json          name, version, stage, backbone, target scale, input spec, sha256
      config.yaml         the exact experiment configuration
      preprocessing.json  how faces were made (alignment, size, photometric steps)
      metrics.json        held-out results of the run that made it
      model_card.md       data, population, intended use, limits, licence, checksum
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pedpain.core.errors import EnvironmentProblem
from pedpain.core.files import atomic_write_bytes, atomic_write_text
from pedpain.models.heads import PainHead, PainNet
from pedpain.models.registry import InputSpec, create_backbone

MODEL_FORMAT = "pedpain-model"
MODEL_FORMAT_VERSION = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class LoadedModel:
    net: PainNet
    meta: dict[str, Any]
    folder: Path

    @property
    def spec(self) -> InputSpec:
        return InputSpec.from_dict(self.meta["input_spec"])

    @property
    def target_max(self) -> float:
        return float(self.meta["target_max"])


def build_from_meta(meta: dict[str, Any]) -> PainNet:
    spec = InputSpec.from_dict(meta["input_spec"])
    backbone = create_backbone(meta["backbone"], spec=spec)
    return PainNet(backbone, PainHead(backbone.feature_dim, meta["head_hidden"], meta["dropout"]))


def save_model_folder(
    folder: Path,
    net: PainNet,
    meta: dict[str, Any],
    config_yaml: str,
    preprocessing: dict[str, Any],
    metrics: dict[str, Any],
    card: str,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "model.pt"
    buffer = _state_bytes(net)
    atomic_write_bytes(weights, buffer)
    meta = {
        **meta,
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "sha256": hashlib.sha256(buffer).hexdigest(),
    }
    atomic_write_text(folder / "config.yaml", config_yaml)
    atomic_write_text(folder / "preprocessing.json", json.dumps(preprocessing, indent=2))
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2, default=str))
    atomic_write_text(folder / "model_card.md", card.replace("{sha256}", meta["sha256"]))
    # model.json last: its presence marks a complete folder.
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=2, default=str))
    return folder


def _state_bytes(net: PainNet) -> bytes:
    import io

    handle = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, handle)
    return handle.getvalue()


def read_model_meta(folder: str | Path) -> dict[str, Any]:
    """A model folder's ``model.json``, checked to be one (weights not read)."""
    path = Path(folder)
    meta_file = path / "model.json"
    if not meta_file.is_file():
        raise EnvironmentProblem(f"no model folder at {path} (model.json missing)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EnvironmentProblem(f"model.json in {path} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise EnvironmentProblem(f"{path} is not a pedpain model folder")
    return meta


def verify_model_folder(folder: str | Path) -> dict[str, Any]:
    """``model.json`` after checking that ``model.pt`` matches its checksum."""
    path = Path(folder)
    meta = read_model_meta(path)
    weights = path / "model.pt"
    if not weights.is_file():
        raise EnvironmentProblem(f"model weights missing: {weights}")
    if sha256_file(weights) != meta.get("sha256"):
        raise EnvironmentProblem(
            f"model weights in {path} do not match their checksum (altered or damaged file)"
        )
    return meta


def load_model_folder(folder: str | Path) -> LoadedModel:
    path = Path(folder)
    meta = verify_model_folder(path)
    weights = path / "model.pt"
    net = build_from_meta(meta)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:
        raise EnvironmentProblem(
            f"cannot load weights from {weights}: {type(exc).__name__}"
        ) from None
    net.eval()
    return LoadedModel(net=net, meta=meta, folder=path)


class FaceScorer(torch.nn.Module):
    """Stored faces in, scores out: (B, S, S, 3) uint8 -> (intensity on the model's
    target scale, probability of pain). The same input path as training."""

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.net = loaded.net
        self.spec = loaded.spec
        self.target_max = loaded.target_max

    def forward(self, faces_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from pedpain.models.inputs import model_input

        frac, logit = self.net(model_input(faces_uint8, self.spec))
        return frac.clamp(0, 1) * self.target_max, torch.sigmoid(logit)
