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
      quality.json        optional: calibrated quality-gate thresholds
      temporal.pt/.json   optional: a clip head over the frame model's embeddings
      model.onnx, onnx.json  optional: a verified ONNX export and its checksums

This module is the only place that knows these names and formats: training writes
through it and ``assess``, ``evaluate``, ``export onnx`` and the web registry read
through it, so a folder damaged anywhere is refused by all of them alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pedpain.core.errors import EnvironmentProblem
from pedpain.core.files import atomic_write_bytes, atomic_write_text
from pedpain.models.heads import PainHead, PainNet
from pedpain.models.registry import InputSpec, create_backbone

if TYPE_CHECKING:
    from pedpain.core.settings import Settings
    from pedpain.vision.config import PreprocessConfig

MODEL_FORMAT = "pedpain-model"
#: Bumped when a reader of this version could misread a folder written by the next one.
MODEL_FORMAT_VERSION = 1

# -- the file names of a model folder (nowhere else in the code base) -------------------
WEIGHTS_FILE = "model.pt"
META_FILE = "model.json"
CONFIG_FILE = "config.yaml"
PREPROCESSING_FILE = "preprocessing.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "model_card.md"
PREDICTIONS_FILE = "predictions.csv"
AGREEMENT_FILE = "agreement.json"
QUALITY_FILE = "quality.json"
TEMPORAL_FILE = "temporal.pt"
TEMPORAL_META = "temporal.json"
ONNX_FILE = "model.onnx"
ONNX_META = "onnx.json"
CHECKPOINTS_DIR = "checkpoints"
#: ``PEDPAIN_HOME/models/active``: the default model (a folder or a link to one).
ACTIVE = "active"


class ModelMeta(BaseModel):
    """``model.json``: what every reader of a model folder relies on. Extra keys (the
    subjects of each split, the teacher of a student, ...) are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format: str
    format_version: int = Field(default=MODEL_FORMAT_VERSION, ge=1)
    name: str
    version: str = "0.0.0"
    stage: str
    backbone: str
    input_spec: dict[str, Any]
    head_hidden: list[int]
    dropout: float = Field(ge=0, lt=1)
    target: str = "pain"
    target_max: float = Field(gt=0)
    pain_threshold: float = 1.0
    sha256: str = Field(min_length=64, max_length=64)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _validated(doc: Any, path: Path) -> ModelMeta:
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise EnvironmentProblem(f"{path} is not a pedpain model folder")
    try:
        meta = ModelMeta.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise EnvironmentProblem(
            f"{META_FILE} in {path} is damaged: '{where}' {first.get('msg', 'invalid')}"
        ) from None
    if meta.format_version > MODEL_FORMAT_VERSION:
        raise EnvironmentProblem(
            f"{path} is model format {meta.format_version}; this pedpain reads up to "
            f"{MODEL_FORMAT_VERSION} (upgrade pedpain)"
        )
    return meta


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A sidecar's JSON object; one-line EnvironmentProblem when unreadable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnvironmentProblem(f"{what} missing: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise EnvironmentProblem(f"{what} is unreadable (damaged file): {path}") from None
    if not isinstance(doc, dict):
        raise EnvironmentProblem(f"{what} is not a JSON object (damaged file): {path}")
    return doc


@dataclass
class LoadedModel:
    net: PainNet
    meta: dict[str, Any]
    folder: Path

    @property
    def info(self) -> ModelMeta:
        return ModelMeta.model_validate(self.meta)

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
    buffer = _state_bytes(net)
    atomic_write_bytes(folder / WEIGHTS_FILE, buffer)
    doc = {
        **meta,
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "sha256": hashlib.sha256(buffer).hexdigest(),
    }
    _validated(doc, folder)  # a writer never leaves a folder its readers refuse
    atomic_write_text(folder / CONFIG_FILE, config_yaml)
    atomic_write_text(folder / PREPROCESSING_FILE, json.dumps(preprocessing, indent=2))
    atomic_write_text(folder / METRICS_FILE, json.dumps(metrics, indent=2, default=str))
    atomic_write_text(folder / CARD_FILE, card.replace("{sha256}", doc["sha256"]))
    # model.json last: its presence marks a complete folder.
    atomic_write_text(folder / META_FILE, json.dumps(doc, indent=2, default=str))
    return folder


def _state_bytes(net: PainNet) -> bytes:
    import io

    handle = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, handle)
    return handle.getvalue()


def is_complete(folder: str | Path) -> bool:
    """Whether a training run finished this folder (its ``model.json`` was written)."""
    return (Path(folder) / META_FILE).is_file()


def read_model_meta(folder: str | Path) -> dict[str, Any]:
    """A model folder's ``model.json``, validated (weights not read)."""
    path = Path(folder)
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise EnvironmentProblem(f"no model folder at {path} ({META_FILE} missing)")
    return _validated(_read_json(meta_file, META_FILE), path).to_dict()


def read_metrics(folder: str | Path) -> dict[str, Any]:
    """``metrics.json``: the held-out results of the run that made the folder."""
    return _read_json(Path(folder) / METRICS_FILE, METRICS_FILE)


# -- sidecars ---------------------------------------------------------------------------
def read_preprocessing(folder: str | Path) -> PreprocessConfig:
    """How the model's training faces were made. Required: serving a model faces made
    another way would give wrong scores without any error, so a missing or damaged
    ``preprocessing.json`` is refused, never replaced by defaults.

    The file is a ``pedpain preprocess`` pack's meta (parameters under ``preprocess``)
    or the UNBC cache's record (the parameters at the top level)."""
    from pedpain.vision.config import PreprocessConfig

    path = Path(folder) / PREPROCESSING_FILE
    doc = _read_json(path, PREPROCESSING_FILE)
    params = doc.get("preprocess", doc)
    if not isinstance(params, dict):
        raise EnvironmentProblem(f"{PREPROCESSING_FILE} has no parameters (damaged file): {path}")
    try:
        return PreprocessConfig.from_dict(params)
    except (TypeError, ValueError) as exc:
        raise EnvironmentProblem(
            f"{PREPROCESSING_FILE} holds invalid parameters ({exc}): {path}"
        ) from None


def read_quality(folder: str | Path) -> dict[str, Any] | None:
    """The calibrated quality-gate thresholds (``quality.json``), None when the folder was
    never calibrated (the shipped defaults then apply); a damaged file is refused."""
    path = Path(folder) / QUALITY_FILE
    if not path.exists():
        return None
    doc = _read_json(path, QUALITY_FILE)
    thresholds = doc.get("thresholds", doc)
    if not isinstance(thresholds, dict) or not all(
        isinstance(v, (int, float, str, type(None))) for v in thresholds.values()
    ):
        raise EnvironmentProblem(f"{QUALITY_FILE} holds no thresholds (damaged file): {path}")
    return thresholds


def write_quality(folder: str | Path, doc: dict[str, Any]) -> Path:
    path = Path(folder) / QUALITY_FILE
    atomic_write_text(path, json.dumps(doc, indent=2))
    return path


def read_temporal(folder: str | Path) -> dict[str, Any] | None:
    """``temporal.json`` of a folder with a clip head, checked against ``temporal.pt``;
    None when the folder has no clip head."""
    path = Path(folder)
    meta_path, weights = path / TEMPORAL_META, path / TEMPORAL_FILE
    if not meta_path.exists() and not weights.exists():
        return None
    if not weights.is_file():
        raise EnvironmentProblem(f"temporal head weights missing: {weights}")
    doc = _read_json(meta_path, TEMPORAL_META)
    from pedpain.models.temporal import TEMPORAL_HEADS

    if doc.get("kind") not in TEMPORAL_HEADS or not isinstance(doc.get("dim"), int):
        raise EnvironmentProblem(f"{TEMPORAL_META} is damaged (kind/dim): {meta_path}")
    if doc.get("sha256") != sha256_file(weights):
        raise EnvironmentProblem(f"temporal head in {path} does not match its checksum")
    return doc


def load_temporal_head(folder: str | Path) -> torch.nn.Module | None:
    """The folder's trained clip head in eval mode, None when it has none."""
    doc = read_temporal(folder)
    if doc is None:
        return None
    from pedpain.models.temporal import TEMPORAL_HEADS

    head = TEMPORAL_HEADS[doc["kind"]](int(doc["dim"]), int(doc.get("hidden", 64)))
    weights = Path(folder) / TEMPORAL_FILE
    try:
        head.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except Exception as exc:  # torch raises many types for a bad file
        raise EnvironmentProblem(
            f"cannot load the temporal head {weights}: {type(exc).__name__}"
        ) from None
    return head.eval()


def write_temporal(folder: str | Path, state: bytes, doc: dict[str, Any]) -> None:
    """Weights first, then their record (with the checksum): the record marks completion."""
    path = Path(folder)
    atomic_write_bytes(path / TEMPORAL_FILE, state)
    doc = {**doc, "sha256": hashlib.sha256(state).hexdigest()}
    atomic_write_text(path / TEMPORAL_META, json.dumps(doc, indent=2, default=str))


def read_onnx_record(folder: str | Path) -> dict[str, Any] | None:
    """``onnx.json`` (checksums of the export and of the weights it came from); None
    without an export. A present but damaged record is refused."""
    path = Path(folder) / ONNX_META
    if not path.exists():
        return None
    doc = _read_json(path, ONNX_META)
    if not isinstance(doc.get("weights_sha256"), str) or not isinstance(
        doc.get("onnx_sha256"), str
    ):
        raise EnvironmentProblem(f"{ONNX_META} lacks its checksums (damaged file): {path}")
    return doc


def write_onnx_record(path: Path, doc: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(doc, indent=2))


def check_sidecars(folder: str | Path) -> None:
    """Every sidecar the folder has (and the preprocessing it must have) reads back."""
    read_preprocessing(folder)
    read_quality(folder)
    read_temporal(folder)
    read_onnx_record(folder)


def verify_model_folder(folder: str | Path) -> dict[str, Any]:
    """``model.json`` after checking that ``model.pt`` matches its checksum and that every
    sidecar reads back: what ``assess``, ``evaluate``, ``export onnx`` and the web app's
    registry all require before they use a folder."""
    path = Path(folder)
    meta = read_model_meta(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise EnvironmentProblem(f"model weights missing: {weights}")
    if sha256_file(weights) != meta.get("sha256"):
        raise EnvironmentProblem(
            f"model weights in {path} do not match their checksum (altered or damaged file)"
        )
    check_sidecars(path)
    return meta


def load_model_folder(folder: str | Path) -> LoadedModel:
    path = Path(folder)
    meta = verify_model_folder(path)
    weights = path / WEIGHTS_FILE
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


# -- which model -------------------------------------------------------------------------
def active_model_folder(settings: Settings) -> Path | None:
    """The model ``assess`` and ``serve`` use when none is named: the ``model`` setting
    (``PEDPAIN_MODEL``), else ``PEDPAIN_HOME/models/active``; None when neither exists."""
    if settings.model is not None:
        return Path(settings.model).resolve()
    link = Path(settings.home) / "models" / ACTIVE
    if is_complete(link):
        return link.resolve()
    return None


def resolve_model_folder(model: str | Path | None, settings: Settings) -> Path:
    """``model`` when given, else the active model (see above); EnvironmentProblem when
    there is none or it is not a model folder."""
    if model is None:
        found = active_model_folder(settings)
        if found is None:
            active = Path(settings.home) / "models" / ACTIVE
            raise EnvironmentProblem(
                f"no model: pass --model, set PEDPAIN_MODEL, or put one at {active}"
            )
        model = found
    path = Path(model)
    if not is_complete(path):
        raise EnvironmentProblem(f"no model folder at {path} ({META_FILE} missing)")
    return path


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
