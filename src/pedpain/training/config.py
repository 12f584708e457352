"""Training configuration: YAML files under ``configs/``, overridable with ``key=value``.

Overrides use dotted paths into the YAML: ``train.epochs=3 model.backbone=resnet18``.
Values are parsed as YAML scalars (``3`` is an int, ``null`` is None, ``[1,2]`` a list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pedpain.core.errors import UsageError
from pedpain.core.settings import read_config_file
from pedpain.data.config import DataConfig as DataConfig  # re-exported: a config section


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Strict):
    #: ``manifest``: the ``split`` column of the labels (train/test), e.g. the 80/20 split
    #: that ``pedpain db export`` stratified by age band and pain level.
    kind: Literal["holdout", "loso", "kfold", "published", "manifest"] = "holdout"
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    #: Share of the training subjects held out for validation (early stopping).
    val_fraction: float = Field(default=0.15, ge=0, lt=1)
    k: int = Field(default=5, ge=2)
    table: str = "unbc-balanced"
    #: Run only these folds (names or 1-based numbers); empty runs all.
    folds: list[str] = Field(default_factory=list)
    seed: int = 0
    #: Image-level random split: leaks identity. Refused unless set, then warned about.
    allow_identity_leak: bool = False


class ModelConfig(_Strict):
    backbone: str = "vgg16"
    weights: Path | None = None
    input_size: int = Field(default=165, ge=32, le=512)
    normalisation: Literal["per_image", "dataset"] = "per_image"
    head_hidden: list[int] = Field(default_factory=lambda: [256])
    dropout: float = Field(default=0.3, ge=0, lt=1)


class TrainConfig(_Strict):
    batch_size: int = Field(default=128, ge=1)
    epochs: int = Field(default=30, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    #: Transfer: epochs with the convolutional layers frozen before fine-tuning them all.
    freeze_backbone_epochs: int = Field(default=0, ge=0)
    #: Learning rate of the unfrozen backbone, as a factor of ``lr``.
    finetune_lr_factor: float = Field(default=0.1, gt=0)
    #: Transfer: never unfreeze (train only the new fully connected layers).
    finetune: bool = True
    early_stopping_patience: int = Field(default=5, ge=0)
    pain_loss_weight: float = Field(default=0.5, ge=0)
    #: Cap on the inverse-frequency weight of rare intensity levels.
    max_sample_weight: float = Field(default=10.0, ge=1)
    seed: int = 0
    num_workers: int = Field(default=0, ge=0)


class AugmentConfig(_Strict):
    rotation_deg: float = Field(default=10.0, ge=0, le=45)
    scale: float = Field(default=0.1, ge=0, le=0.5)
    translate: float = Field(default=0.05, ge=0, le=0.3)
    flip: bool = True
    brightness: float = Field(default=0.2, ge=0, le=1)
    contrast: float = Field(default=0.2, ge=0, le=1)
    #: A ``pedpain augment gan-sample`` folder: its synthetic faces join the TRAINING split
    #: only, never validation or test (pedpain.training.synthetic).
    gan_samples: Path | None = None
    #: Share of the training faces that are synthetic when ``gan_samples`` is set.
    gan_ratio: float = Field(default=0.3, ge=0, lt=1)


class TrainerConfig(_Strict):
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = Field(default=1, ge=1)
    #: ``auto``: bf16 mixed precision on a GPU that supports it, 32-bit otherwise.
    precision: str = "auto"
    max_steps: int = -1
    limit_train_batches: float | int = 1.0
    log_every_n_steps: int = 10
    deterministic: bool = True


class ExperimentConfig(_Strict):
    stage: Literal["source", "transfer", "distill", "temporal"] = "source"
    #: Temporal stage: the clip head over the frame model's embeddings.
    temporal_kind: Literal["attention", "gru"] = "attention"
    name: str = "pain-model"
    version: str = "0.1.0"
    #: Transfer stage: the source model folder whose convolutional layers are kept.
    source_model: Path | None = None
    #: Distill stage: the teacher model folder whose outputs the student learns.
    teacher_model: Path | None = None
    out: Path | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)

    @property
    def target_max(self) -> float:
        return 16.0 if self.data.target == "pspi" else 10.0


def apply_overrides(doc: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested mapping (a copy)."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(doc)) or {}
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"override {item!r} is not KEY=VALUE (e.g. train.epochs=3)")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise UsageError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def load_experiment(
    path: str | Path | None, overrides: list[str] | None = None
) -> ExperimentConfig:
    doc = read_config_file(path) if path is not None else {}
    doc = apply_overrides(doc, overrides or [])
    try:
        config = ExperimentConfig.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        if first.get("type") == "extra_forbidden":
            raise UsageError(f"unknown training setting '{loc}' (check for a typo)") from None
        raise UsageError(f"invalid training setting '{loc}': {first.get('msg')}") from None
    if config.stage == "transfer" and config.source_model is None:
        raise UsageError("the transfer stage needs source_model: the source model folder")
    if config.stage == "temporal" and config.source_model is None:
        raise UsageError("the temporal stage needs source_model: the frame model folder")
    if config.stage == "distill" and config.teacher_model is None:
        raise UsageError("the distill stage needs teacher_model: the teacher model folder")
    if config.data.root is None:
        raise UsageError("data.root is not set: the UNBC tree or the preprocessed faces folder")
    if config.data.kind == "faces" and config.data.labels is None:
        raise UsageError("data.kind 'faces' needs data.labels: a CSV of labels per input file")
    return config


def dump_config(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
