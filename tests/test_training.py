"""Real training at small scale: a UNBC-layout tree made here, resnet18 at 64 px."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.models import available_backbones, create_backbone
from pedpain.models.bundle import load_model_folder
from pedpain.training.config import load_experiment
from training_fixtures import SUBJECTS, make_unbc_tree, write_config  # noqa: F401  (re-exported)


def _process_env() -> dict[str, str]:
    import os

    return dict(os.environ, PEDPAIN_NO_PROGRESS="1", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")


def _run_cli_process(args: list[str]):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pedpain", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=_process_env(),
        check=False,
    )


def _run_killed_after_first_checkpoint(cfg: Path, out: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    env = _process_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pedpain", "train", "--config", str(cfg), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = out / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "the run ended before writing its first checkpoint"
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert state["epoch"] < 2, "the kill must land mid-run (before the last of 3 epochs)"


@pytest.fixture(scope="module")
def unbc_tree(tiny_unbc_tree) -> Path:
    return tiny_unbc_tree


@pytest.fixture(scope="module")
def trained(tiny_source_model) -> tuple[Path, Path, dict]:
    """One uninterrupted 3-epoch source run (the session's), shared by the tests below."""
    return tiny_source_model


def test_registry_builds_every_backbone_with_its_feature_size():
    assert set(available_backbones()) >= {
        "vgg16",
        "resnet50",
        "vgg16_resnet50",
        "mobilenet_v3_large",
        "resnet18",
    }
    x = torch.zeros(2, 3, 64, 64)
    for name, dim in (
        ("vgg16", 512),
        ("resnet50", 2048),
        ("vgg16_resnet50", 2560),
        ("mobilenet_v3_large", 960),
        ("resnet18", 512),
    ):
        bb = create_backbone(name).eval()
        with torch.no_grad():
            assert bb(x).shape == (2, dim) == (2, bb.feature_dim)


def test_local_weights_load_and_mismatches_are_clear(tmp_path):
    import torchvision

    good = tmp_path / "resnet18.pth"
    net = torchvision.models.resnet18(weights=None)
    torch.save(net.state_dict(), good)
    bb = create_backbone("resnet18", weights=good)
    assert torch.equal(bb.body.stem[0].weight, net.conv1.weight)
    wrong = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), wrong)
    with pytest.raises(EnvironmentProblem, match="do not fit backbone resnet18"):
        create_backbone("resnet18", weights=wrong)
    with pytest.raises(EnvironmentProblem, match="not found"):
        create_backbone("resnet18", weights=tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(EnvironmentProblem, match="cannot read"):
        create_backbone("resnet18", weights=junk)
    with pytest.raises(UsageError, match="unknown backbone"):
        create_backbone("alexnet")


def test_config_overrides_and_errors(tmp_path, unbc_tree):
    cfg = write_config(tmp_path / "c.yaml", unbc_tree)
    exp = load_experiment(cfg, ["train.epochs=7", "model.head_hidden=[8, 4]"])
    assert exp.train.epochs == 7 and exp.model.head_hidden == [8, 4]
    with pytest.raises(UsageError, match=r"unknown training setting 'train\.epoch'"):
        load_experiment(cfg, ["train.epoch=3"])
    with pytest.raises(UsageError, match="KEY=VALUE"):
        load_experiment(cfg, ["epochs"])
    with pytest.raises(UsageError, match="source_model"):
        load_experiment(cfg, ["stage=transfer"])


@pytest.mark.slow
def test_source_stage_trains_writes_model_folder_and_resumes_exactly(cli, tmp_path, trained):
    cfg, model_dir, doc = trained
    fold = doc["folds"][0]
    assert fold["n_test_subjects"] == 2 and fold["mae"] is not None
    model = load_model_folder(model_dir)
    assert model.meta["backbone"] == "resnet18" and model.meta["target_max"] == 16
    assert set(model.meta["subjects_test"]).isdisjoint(model.meta["subjects_train"])
    for name in (
        "config.yaml",
        "preprocessing.json",
        "metrics.json",
        "model_card.md",
        "predictions.csv",
    ):
        assert (model_dir / name).is_file(), name
    assert "not a medical device" in (model_dir / "model_card.md").read_text()

    # Kill a run for real once its first epoch checkpoint exists, rerun it, and compare
    # with an uninterrupted run: same final weights. All three runs are separate processes
    # with the same thread count (another test in this process may change torch's, and a
    # different thread count changes float sums).
    straight = _run_cli_process(["train", "--config", str(cfg), "--out", str(tmp_path / "s")])
    assert straight.returncode == 0, straight.stderr[-2000:]
    _run_killed_after_first_checkpoint(cfg, tmp_path / "r")
    assert not (tmp_path / "r" / "model.json").exists()
    resumed = _run_cli_process(["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = torch.load(tmp_path / "s" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "r" / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k

    # A finished folder is reused, not retrained.
    again = json.loads(cli("train", "--config", str(cfg), "--out", str(model_dir), "--json").out)
    assert again["folds"][0]["reused"] is True


def test_altered_weights_are_refused(tmp_path):
    from pedpain.models.bundle import save_model_folder
    from pedpain.models.registry import InputSpec
    from pedpain.training.module import build_net

    net = build_net("resnet18", InputSpec(size=64), [8], 0.1)
    meta = {
        "name": "tiny",
        "stage": "source",
        "backbone": "resnet18",
        "input_spec": InputSpec(size=64).to_dict(),
        "head_hidden": [8],
        "dropout": 0.1,
        "target_max": 10,
    }
    save_model_folder(tmp_path / "m", net, meta, "{}", {}, {}, "card {sha256}")
    assert (
        load_model_folder(tmp_path / "m").meta["sha256"]
        in (tmp_path / "m" / "model_card.md").read_text()
    )
    with open(tmp_path / "m" / "model.pt", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(EnvironmentProblem, match="checksum"):
        load_model_folder(tmp_path / "m")
    with pytest.raises(EnvironmentProblem, match="no model folder"):
        load_model_folder(tmp_path / "nothing")


@pytest.mark.slow
def test_loso_reports_per_fold_metrics(cli, tmp_path, unbc_tree):
    cfg = write_config(
        tmp_path / "c.yaml",
        unbc_tree,
        **{"split.kind": "loso", "train.epochs": 1, "trainer.limit_train_batches": 2},
    )
    result = cli("train", "--config", str(cfg), "--out", str(tmp_path / "loso"), "--json")
    assert result.code == 0, result.err
    folds = json.loads(result.out)["folds"]
    assert len(folds) == len(SUBJECTS)
    assert all(f["n_test_subjects"] == 1 for f in folds)
    summary = json.loads((tmp_path / "loso" / "folds.json").read_text())
    assert summary["mae"]["n_folds"] == len(SUBJECTS)
    assert (tmp_path / "loso" / "predictions_pooled.csv").is_file()


@pytest.mark.slow
def test_transfer_keeps_convolutional_layers_frozen_then_finetunes(
    cli, tmp_path, unbc_tree, trained
):
    src = trained[1]
    source = load_model_folder(src)
    tcfg = write_config(
        tmp_path / "t.yaml",
        unbc_tree,
        **{
            "stage": "transfer",
            "source_model": str(src),
            "train.epochs": 1,
            "train.freeze_backbone_epochs": 5,
        },
    )
    assert cli("train", "--config", str(tcfg), "--out", str(tmp_path / "frozen")).code == 0
    frozen = load_model_folder(tmp_path / "frozen")
    for k, v in source.net.backbone.state_dict().items():
        if "running" in k or "num_batches" in k:
            continue
        assert torch.equal(v, frozen.net.backbone.state_dict()[k]), k
    assert frozen.meta["source_model"] == str(src)

    tcfg2 = write_config(
        tmp_path / "t2.yaml",
        unbc_tree,
        **{
            "stage": "transfer",
            "source_model": str(src),
            "train.epochs": 2,
            "train.freeze_backbone_epochs": 1,
        },
    )
    assert cli("train", "--config", str(tcfg2), "--out", str(tmp_path / "ft")).code == 0
    tuned = load_model_folder(tmp_path / "ft")
    changed = [
        k
        for k, v in source.net.backbone.state_dict().items()
        if v.is_floating_point() and not torch.equal(v, tuned.net.backbone.state_dict()[k])
    ]
    assert changed, "after unfreezing the backbone must change"


def test_train_bad_inputs(cli, tmp_path):
    assert cli("train", "--config", str(tmp_path / "missing.yaml")).code == 2
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "no-tree")
    result = cli("train", "--config", str(cfg), "--out", str(tmp_path / "m"))
    assert result.code == 2 and "not a folder" in result.err


@pytest.mark.slow
def test_evaluate_model_form_leaves_out_training_subjects(cli, tmp_path, unbc_tree, trained):
    model_dir = trained[1]
    meta = load_model_folder(model_dir).meta
    result = cli(
        "evaluate",
        "--model",
        str(model_dir),
        "--data",
        str(unbc_tree),
        "--out",
        str(tmp_path / "ev"),
        "--json",
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["n_subjects"] == len(meta["subjects_test"])
    assert (tmp_path / "ev" / "report.html").is_file()
    report = (tmp_path / "ev" / "report.html").read_text()
    assert "not a medical device" in report
    missing = cli(
        "evaluate",
        "--model",
        str(tmp_path / "none"),
        "--data",
        str(unbc_tree),
        "--out",
        str(tmp_path / "ev2"),
    )
    assert missing.code == 4
    partial = cli("evaluate", "--model", str(model_dir), "--out", str(tmp_path / "ev3"))
    assert partial.code == 2 and "--model, --data and --out" in partial.err


@pytest.mark.slow
def test_ddp_two_cpu_processes_gloo(tmp_path, unbc_tree):
    """`trainer.strategy=ddp` with 2 CPU processes (gloo): both ranks train on their own
    shard of each epoch, rank 0 writes the model folder and prints one JSON document."""
    import os
    import subprocess
    import sys

    cfg = write_config(
        tmp_path / "c.yaml",
        unbc_tree,
        **{"train.epochs": 1},
    )
    env = dict(os.environ, PEDPAIN_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pedpain",
            "train",
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "ddp"),
            "--accelerator",
            "cpu",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["folds"][0]["mae"] is not None
    model = load_model_folder(tmp_path / "ddp")
    assert model.meta["backbone"] == "resnet18"


@pytest.mark.slow
def test_temporal_head_trains_on_clips_and_assess_can_load_it(tmp_path, trained):
    """Stage `temporal`: clips of the frame model's training subjects train an attention
    head over frame embeddings; held-out clips compare it with plain pooling."""
    import pandas as pd

    from pedpain.assess.engine import _load_temporal
    from pedpain.data.faces import FaceTable
    from pedpain.training.config import ExperimentConfig
    from pedpain.training.datamodule import ArrayFaces
    from pedpain.training.run import run_experiment

    model_dir = trained[1]
    meta = load_model_folder(model_dir).meta
    subjects = meta["subjects_train"] + meta["subjects_test"]
    rng = np.random.default_rng(0)
    rows, faces = [], []
    for subject in subjects:
        for c in range(3):
            level = float(rng.integers(0, 11))
            for f in range(6):
                img = np.full((64, 64, 3), 40, np.uint8)
                r = 4 + int(level * 2.5)
                img[32 - r : 32 + r, 32 - r : 32 + r] = 220
                faces.append(img)
                rows.append(
                    {
                        "face": len(rows),
                        "subject": subject,
                        "clip": f"{subject}-{c}",
                        "frame": f,
                        "target": level,
                    }
                )
    table = FaceTable(ArrayFaces(np.stack(faces)), pd.DataFrame(rows))
    config = ExperimentConfig.model_validate({
        "stage": "temporal", "source_model": str(model_dir),
        "data": {"kind": "faces", "root": str(tmp_path), "labels": "x.csv", "target": "pain",
                 "pain_threshold": 3},
        "train": {"epochs": 5, "lr": 0.003, "batch_size": 32},
    })  # fmt: skip
    result = run_experiment(config, table, tmp_path / "t")[0]
    assert result.metrics["n_clips_train"] == 3 * len(meta["subjects_train"])
    assert result.metrics["n_clips_test"] == 3 * len(meta["subjects_test"])
    assert result.metrics["mae"] is not None and result.metrics["pooling_mae"] is not None
    assert load_model_folder(tmp_path / "t").meta["sha256"] == meta["sha256"]
    head = _load_temporal(tmp_path / "t")
    assert head is not None
    doc = json.loads((tmp_path / "t" / "temporal.json").read_text())
    assert doc["experiment"]["stage"] == "temporal" and doc["experiment"]["train"]["epochs"] == 5
    again = run_experiment(config, table, tmp_path / "t")[0]
    assert again.reused


def test_loader_reads_whole_batches_in_sampler_order():
    from pedpain.training.datamodule import ArrayFaces, EpochSampler, FaceDataModule

    faces = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    rows = pd.DataFrame({"face": [9, 3, 5, 0, 1], "target": [1.0, 2, 3, 4, 5]})
    loader = FaceDataModule(ArrayFaces(faces), rows, None, batch_size=2, seed=3).train_dataloader()
    order = list(EpochSampler(5, 3))
    batches = list(loader)
    assert [b["face"].shape[0] for b in batches] == [2, 2, 1]
    got = torch.cat([b["face"][:, 0, 0, 0] for b in batches]).tolist()
    assert got == rows["face"].to_numpy()[order].tolist()
    assert (
        torch.cat([b["target"] for b in batches]).tolist()
        == rows["target"].to_numpy()[order].tolist()
    )
    assert batches[0]["weight"].tolist() == [1.0, 1.0] and batches[0]["face"].dtype == torch.uint8


def test_labels_skip_unrated_rows_and_need_face_files(tmp_path):
    from pedpain.data.face_tables import read_labels

    def labels(text: str) -> Path:
        path = tmp_path / "labels.csv"
        path.write_text(text, encoding="utf-8")
        return path

    # An export without media: `path` is empty, `file` names the faces; one unrated row.
    got = read_labels(
        labels("path,file,subject_code,label\n,a.jpg,P01,3\n,b.jpg,P01,\n,c.jpg,P02,7.5\n")
    )
    assert got["input"].tolist() == ["a.jpg", "c.jpg"]
    assert got["subject"].tolist() == ["P01", "P02"] and got["target"].tolist() == [3, 7.5]
    with pytest.raises(UsageError, match="with-media"):
        read_labels(labels("path,subject_code,label\n,P01,3\n"))
    with pytest.raises(UsageError, match="row 3 has no input"):
        read_labels(labels("input,subject_id,target\na.jpg,P01,3\n ,P02,4\n"))
    with pytest.raises(UsageError, match="no row has a target"):
        read_labels(labels("input,subject_id,target\na.jpg,P01,\n"))
    with pytest.raises(UsageError, match="row 2's target is not a number"):
        read_labels(labels("input,subject_id,target\na.jpg,P01,severe\n"))
