"""The one training engine: every stage on the shared trainer, one entry point, and a
killed distill, temporal or GAN run resuming to the weights of an uninterrupted one."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from pedpain.core.settings import load_settings
from pedpain.data.faces import ArrayFaces, FaceTable
from pedpain.models.bundle import TEMPORAL_FILE, is_complete, load_model_folder
from pedpain.training import train_from_config
from pedpain.training.config import ExperimentConfig
from pedpain.training.trainer import last_checkpoint
from training_fixtures import write_config

SRC = Path(__file__).resolve().parents[1] / "src" / "pedpain"


class Killed(Exception):
    """Stands for the process being killed: raised inside the fit, as a kill would
    interrupt it, after the checkpoint of the epoch before."""


class KillAtEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if trainer.current_epoch == self.epoch:
            raise Killed


class EpochsSeen(Callback):
    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self.epochs.append(trainer.current_epoch)


def same_weights(a: Path, b: Path) -> bool:
    x = torch.load(a, map_location="cpu", weights_only=True)
    y = torch.load(b, map_location="cpu", weights_only=True)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_killed_distill_resumes_to_the_same_weights(tmp_path, tiny_unbc_tree, tiny_source_model):
    _, teacher, _ = tiny_source_model
    cfg = write_config(
        tmp_path / "d.yaml",
        tiny_unbc_tree,
        stage="distill",
        teacher_model=str(teacher),
        name="student",
        **{"model.input_size": 48, "train.epochs": 3, "train.lr": 0.001, "augment.flip": True},
    )
    settings = load_settings(home=tmp_path / "home")
    whole = train_from_config(cfg, [], tmp_path / "whole", settings=settings, progress=False)
    assert whole.main and whole.stage == "distill" and is_complete(whole.folder)
    killed = tmp_path / "killed"
    with pytest.raises(Killed):
        train_from_config(cfg, [], killed, settings=settings, callbacks=[KillAtEpoch(2)])
    assert not is_complete(killed) and last_checkpoint(killed).is_file()
    seen = EpochsSeen()
    again = train_from_config(cfg, [], killed, settings=settings, callbacks=[seen])
    assert seen.epochs == [2]  # only the epoch the kill left
    assert same_weights(whole.folder / "model.pt", killed / "model.pt")
    assert len(again.folds[0].metrics["train_loss"]) == 3  # history survives the kill
    # The student ran on the shared trainer: its logs are where every stage's are.
    assert list((killed / "logs" / "csv").glob("**/metrics.csv"))


def _clip_table(model_dir: Path) -> FaceTable:
    meta = load_model_folder(model_dir).meta
    rng = np.random.default_rng(0)
    rows, faces = [], []
    for subject in meta["subjects_train"] + meta["subjects_test"]:
        for c in range(3):
            level = float(rng.integers(0, 11))
            for f in range(5):
                img = np.full((64, 64, 3), 40, np.uint8)
                r = 4 + int(level * 2.5)
                img[32 - r : 32 + r, 32 - r : 32 + r] = 220
                faces.append(img)
                rows.append(
                    {"face": len(rows), "subject": subject, "clip": f"{subject}-{c}",
                     "frame": f, "target": level}
                )  # fmt: skip
    return FaceTable(ArrayFaces(np.stack(faces)), pd.DataFrame(rows))


def test_killed_temporal_run_resumes_to_the_same_weights(tmp_path, tiny_source_model):
    from pedpain.training.run import run_experiment

    model_dir = tiny_source_model[1]
    table = _clip_table(model_dir)
    config = ExperimentConfig.model_validate({
        "stage": "temporal", "source_model": str(model_dir), "temporal_kind": "gru",
        "data": {"kind": "faces", "root": str(tmp_path), "labels": "x.csv", "target": "pain",
                 "pain_threshold": 3},
        "train": {"epochs": 4, "lr": 0.003, "batch_size": 32},
        "trainer": {"accelerator": "auto"},  # no longer forced onto the CPU
    })  # fmt: skip
    run_experiment(config, table, tmp_path / "whole")
    with pytest.raises(Killed):
        run_experiment(config, table, tmp_path / "killed", callbacks=[KillAtEpoch(2)])
    assert last_checkpoint(tmp_path / "killed").is_file()
    seen = EpochsSeen()
    run_experiment(config, table, tmp_path / "killed", callbacks=[seen])
    assert seen.epochs == [2, 3]
    assert same_weights(tmp_path / "whole" / TEMPORAL_FILE, tmp_path / "killed" / TEMPORAL_FILE)


def test_killed_gan_resumes_to_the_same_weights(tmp_path):
    from pedpain.training.gan import GanConfig, run_gan

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
    rows = pd.DataFrame({
        "face": range(24), "subject": [f"s{i % 6}" for i in range(24)], "clip": "c",
        "frame": range(24), "target": rng.integers(0, 11, 24).astype(float),
    })  # fmt: skip
    table = FaceTable(ArrayFaces(faces), rows)
    config = GanConfig.model_validate({
        "data": {"root": str(tmp_path), "target": "pain"},
        "split": {"kind": "holdout", "test_fraction": 0.34, "val_fraction": 0},
        "gan": {"size": 64, "base_channels": 8, "z_dim": 16, "embed_dim": 8},
        "train": {"batch_size": 4, "iterations": 12},
        "trainer": {"accelerator": "cpu", "strategy": "auto"},  # the shared trainer's keys
    })  # fmt: skip
    run_gan(config, table, tmp_path / "whole")
    with pytest.raises(Killed):
        run_gan(config, table, tmp_path / "killed", callbacks=[KillAtEpoch(1)])
    seen = EpochsSeen()
    metrics = run_gan(config, table, tmp_path / "killed", callbacks=[seen])
    assert seen.epochs == [1, 2] and metrics["iterations"] == 12
    for name in ("generator.pt", "generator_ema.pt", "discriminator.pt"):
        assert same_weights(tmp_path / "whole" / name, tmp_path / "killed" / name), name


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_caller_trains_through_train_from_config():
    """The CLI, augment and the demo start training one way; none builds a Trainer."""
    for rel in ("cli/train.py", "cli/augment.py", "pipeline/study_stages.py"):
        text = (SRC / rel).read_text(encoding="utf-8")
        assert "train_from_config" in text, rel
        assert "run_experiment(" not in text and "run_gan(" not in text, rel
    for path in (SRC / "training").glob("*.py"):
        if path.name != "trainer.py":
            assert "L.Trainer(" not in path.read_text(encoding="utf-8"), path.name
