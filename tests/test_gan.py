"""The conditional GAN: networks, training (CPU, a few steps), resume, sample folders,
mixing into training splits only, quality measures and the ablation.

Faces are procedural cartoons (tests/gan_faces.py), not the phantom generator."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from gan_faces import make_face_tree
from pedpain.cli.main import run
from pedpain.models.gan import Discriminator, GanSpec, Generator, ema_update, generate
from pedpain.models.gan_bundle import load_gan_folder
from pedpain.training.gan_quality import frechet_distance
from pedpain.training.synthetic import is_synthetic_name, real_only, sample_name

# One split for the GAN and the pain models: 6 subjects -> 2 test, 1 validation, 3 fit.
SPLIT = {"kind": "holdout", "test_fraction": 0.34, "val_fraction": 0.25, "seed": 0}
TINY_GAN = {"size": 64, "base_channels": 8, "z_dim": 16, "embed_dim": 8}


def gan_config(path: Path, tree: Path, **train) -> Path:
    doc = {
        "name": "tiny-gan",
        "data": {"kind": "unbc", "root": str(tree), "cache": str(tree.parent / "faces-cache")},
        "split": SPLIT,
        "gan": TINY_GAN,
        "train": {"batch_size": 8, "iterations": 4, **train},
        "trainer": {"accelerator": "cpu"},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def pain_config(path: Path, tree: Path, **augment) -> Path:
    doc = {
        "stage": "source",
        "name": "tiny",
        "data": {"kind": "unbc", "root": str(tree), "cache": str(tree.parent / "faces-cache")},
        "split": SPLIT,
        "model": {"backbone": "resnet18", "input_size": 32, "head_hidden": [16]},
        "train": {"batch_size": 64, "epochs": 1, "early_stopping_patience": 0},
        "augment": {"rotation_deg": 5, **augment},
        "trainer": {"accelerator": "cpu"},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on the shared 2-core machine two spinning threads per process
    made these small networks ~20x slower, not faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A face tree, a GAN trained for 4 iterations on it, and 3 samples per level."""
    base = tmp_path_factory.mktemp("gan")
    tree = make_face_tree(base / "tree", frames_per_seq=8)
    cfg = gan_config(base / "gan.yaml", tree, r1_gamma=1.0)
    assert run(["augment", "gan-train", "--config", str(cfg), "--out", str(base / "G")]) == 0
    samples = base / "samples"
    assert (
        run(["augment", "gan-sample", "--model", str(base / "G"), "-n", "3", "--out", str(samples)])
        == 0
    )
    return {"base": base, "tree": tree, "config": cfg, "gan": base / "G", "samples": samples}


# -- networks ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 128])
def test_networks_shapes_range_and_spectral_norm(size):
    spec = GanSpec(size=size, n_levels=11, z_dim=8, embed_dim=4, base_channels=4)
    g, d = Generator(spec), Discriminator(spec)
    levels = torch.tensor([0, 5, 10])
    x = g(torch.randn(3, 8), levels)
    assert x.shape == (3, 3, size, size) and x.min() >= -1 and x.max() <= 1
    assert d(x, levels).shape == (3,)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)
    # Projection conditioning: the same face judged at another level scores differently.
    d.eval()
    assert not torch.allclose(d(x, levels), d(x, torch.tensor([10, 0, 5])))
    faces = generate(g, levels, seed=3)
    assert faces.dtype == torch.uint8 and faces.shape == (3, size, size, 3)
    assert torch.equal(faces, generate(g, levels, seed=3))


def test_minibatch_std_sees_a_collapsed_batch():
    from pedpain.models.gan import MinibatchStd

    same = torch.randn(1, 4, 4, 4).expand(5, 4, 4, 4)
    assert torch.all(MinibatchStd()(same)[:, -1] == 0)
    varied = MinibatchStd()(torch.randn(5, 4, 4, 4))
    assert varied.shape == (5, 5, 4, 4) and torch.all(varied[:, -1] > 0)
    spec = GanSpec(size=64, n_levels=3, z_dim=4, embed_dim=2, base_channels=2)
    assert any(isinstance(m, MinibatchStd) for m in Discriminator(spec).modules())
    # Folders written before the option existed load without it.
    assert GanSpec.from_dict({"size": 64, "n_levels": 3}).minibatch_std is False


def test_ema_update_is_the_moving_average():
    spec = GanSpec(size=64, n_levels=3, z_dim=4, embed_dim=2, base_channels=2)
    a, b = Generator(spec), Generator(spec)
    before = [p.detach().clone() for p in a.parameters()]
    ema_update(a, b, decay=0.75)
    for p_old, p_new, p_model in zip(before, a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p_new, 0.75 * p_old + 0.25 * p_model, atol=1e-6)


def test_frechet_distance_exact_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, mean shifted by (2, 0, 0): distance is |shift|^2 = 4.
    assert frechet_distance(a, a + np.array([2.0, 0, 0])) == pytest.approx(4.0, abs=1e-6)
    # 1-D Gaussians: (mu1-mu2)^2 + (s1-s2)^2.
    x = np.array([[-1.0], [1.0]])
    assert frechet_distance(x, 3 * x) == pytest.approx((np.sqrt(2) - 3 * np.sqrt(2)) ** 2)


def test_synthetic_names_and_real_only():
    assert sample_name(7, 123) == "synthetic-gan-L07-000123.png"
    assert is_synthetic_name("x/synthetic-gan-L00-000000.png") and not is_synthetic_name("a.png")
    rows = pd.DataFrame(
        {
            "face": [0, 1, 2],
            "gan": [0, 1, None],
            "synthetic": [1, 1, 1],  # a phantom cohort: synthetic data, but not GAN-made
            "path": ["a.png", "b.png", "synthetic-gan-L01-000001.png"],
        }
    )
    assert real_only(rows)["face"].tolist() == [0]


# -- training and the GAN folder ---------------------------------------------------------
@pytest.mark.slow
def test_gan_trains_and_writes_a_synthetic_model_folder(cli, trained):
    folder = trained["gan"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["iterations"] == 4
    assert all(np.isfinite(metrics[k]) for k in ("final_loss_d", "final_loss_g", "final_r1"))
    gan = load_gan_folder(folder)
    assert gan.meta["synthetic"] is True and gan.spec.n_levels == 17
    assert set(gan.meta["subjects_train"]).isdisjoint(gan.meta["subjects_held_out"])
    assert len(gan.meta["subjects_train"]) == 3 and len(gan.meta["subjects_held_out"]) == 3
    card = (folder / "model_card.md").read_text()
    assert "SYNTHETIC" in card and "not a medical device" in card
    grid = cv2.imread(str(folder / "samples.png"))
    assert grid.shape == (17 * 64, 28 + 8 * 64, 3)
    assert (folder / "checkpoints" / "last.ckpt").is_file()
    again = cli(
        "augment", "gan-train", "--config", str(trained["config"]), "--out", str(folder), "--json"
    )
    assert again.code == 0 and json.loads(again.out)["reused"] is True


@pytest.mark.slow
def test_samples_are_marked_synthetic_everywhere(cli, trained, tmp_path):
    samples = trained["samples"]
    labels = pd.read_csv(samples / "labels.csv")
    assert len(labels) == 17 * 3 and (labels["synthetic"] == 1).all()
    assert labels["file"].str.match(r"synthetic-gan-L\d\d-\d{6}\.png$").all()
    assert sorted(labels["level"].unique()) == list(range(17))
    first = labels.iloc[-1]
    assert first["file"].startswith(f"synthetic-gan-L{first['level']:02d}-")
    face = cv2.imread(str(samples / first["file"]))
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    assert b"SYNTHETIC" in (samples / first["file"]).read_bytes()
    assert json.loads((samples / "samples.json").read_text())["synthetic"] is True
    assert (samples / "SYNTHETIC.txt").is_file()
    few = cli(
        "augment", "gan-sample", "--model", str(trained["gan"]), "-n", "2",
        "--levels", "0,16", "--out", str(tmp_path / "few"), "--json",
    )  # fmt: skip
    assert few.code == 0, few.err
    assert json.loads(few.out)["count"] == 4


def test_bad_inputs_give_one_line_errors(cli, tmp_path, trained):
    def sample(model, n="2", out=None):
        return cli("augment", "gan-sample", "--model", str(model), "--per-level", n,
                   "--out", str(out or tmp_path / "o"))  # fmt: skip

    missing = sample(tmp_path / "nope")
    assert missing.code == 2 and "no GAN model folder" in missing.err
    assert missing.err.count("\n") == 1
    pain_model = tmp_path / "pain"
    pain_model.mkdir()
    (pain_model / "model.json").write_text("{}")
    not_gan = sample(pain_model)
    assert not_gan.code == 2 and "not a GAN" in not_gan.err
    assert sample(trained["gan"], n="0").code == 2
    assert sample(trained["gan"], n="-3").code == 2
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    unwritable = sample(trained["gan"], out=blocker / "sub")
    assert unwritable.code == 2 and "cannot write" in unwritable.err
    assert cli("augment", "gan-train", "--config", str(tmp_path / "missing.yaml")).code == 2
    bad_key = cli("augment", "gan-train", "--config", str(trained["config"]), "gan.sise=64")
    assert bad_key.code == 2 and "unknown GAN setting" in bad_key.err
    # Damaged weights: an environment problem (exit 4).
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(trained["gan"], damaged, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    with open(damaged / "generator_ema.pt", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    assert sample(damaged).code == 4


def test_resume_gives_the_same_weights(tmp_path):
    """Train 2 epochs straight, and 1 epoch then 1 more from the checkpoint: same EMA."""
    from pedpain.data.faces import FaceTable
    from pedpain.training.config import DataConfig
    from pedpain.training.datamodule import ArrayFaces
    from pedpain.training.gan import GanConfig, run_gan

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
    rows = pd.DataFrame(
        {
            "face": range(24),
            "subject": [f"s{i % 6}" for i in range(24)],
            "clip": "c",
            "frame": range(24),
            "target": rng.integers(0, 11, 24).astype(float),
        }
    )
    table = FaceTable(ArrayFaces(faces), rows)

    def config(iterations: int) -> GanConfig:
        return GanConfig.model_validate(
            {
                "data": DataConfig(root=tmp_path, target="pain").model_dump(),
                "split": {"kind": "holdout", "test_fraction": 0.34, "val_fraction": 0},
                "gan": TINY_GAN,
                "train": {"batch_size": 4, "iterations": iterations},
                "trainer": {"accelerator": "cpu"},
            }
        )

    # 16 training faces, batch 4: one epoch is 4 iterations.
    run_gan(config(8), table, tmp_path / "straight")
    run_gan(config(4), table, tmp_path / "resumed")
    (tmp_path / "resumed" / "gan.json").unlink()  # as if killed after the first epoch
    ckpt = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    assert int(ckpt["state_dict"]["iteration"]) == 4  # the rerun starts from here
    run_gan(config(8), table, tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "generator_ema.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "generator_ema.pt", weights_only=True)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text())["iterations"] == 8


# -- mixing into training, never into validation or test --------------------------------------
@pytest.mark.slow
def test_gan_samples_join_the_training_split_only(cli, trained, tmp_path):
    cfg = pain_config(tmp_path / "p.yaml", trained["tree"], gan_samples=str(trained["samples"]))
    result = cli("train", "--config", str(cfg), "--out", str(tmp_path / "m"), "--json")
    assert result.code == 0, result.err
    fold = json.loads(result.out)["folds"][0]
    assert fold["n_synthetic_train"] > 0
    pred = pd.read_csv(tmp_path / "m" / "predictions.csv", dtype={"subject_id": str})
    gan = load_gan_folder(trained["gan"])
    assert set(pred["subject_id"]) <= set(gan.meta["subjects_held_out"])
    assert not pred.astype(str).apply(lambda c: c.map(is_synthetic_name)).any().any()
    assert "gan" not in pred or (pred["gan"] == 0).all()
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert "synthetic-gan" not in meta["subjects_train"] + meta["subjects_val"]
    assert meta["gan_faces_train"] == fold["n_synthetic_train"]
    assert "GAN-generated faces" in (tmp_path / "m" / "model_card.md").read_text()
    assert set(meta["subjects_val"]) | set(meta["subjects_test"]) == set(
        gan.meta["subjects_held_out"]
    )

    # A GAN that saw this fold's validation or test subjects is refused.
    leaky = pain_config(
        tmp_path / "leaky.yaml", trained["tree"], gan_samples=str(trained["samples"])
    )
    doc = yaml.safe_load(leaky.read_text())
    doc["split"]["seed"] = 1
    leaky.write_text(yaml.safe_dump(doc))
    refused = cli("train", "--config", str(leaky), "--out", str(tmp_path / "leak"))
    assert refused.code == 2 and "identity leak" in refused.err


def test_synthetic_rows_in_a_table_never_reach_test(tmp_path):
    """Even a table that carries synthetic-flagged rows keeps them out of val and test."""
    from pedpain.data.faces import FaceTable
    from pedpain.training.config import ExperimentConfig
    from pedpain.training.datamodule import ArrayFaces
    from pedpain.training.run import run_experiment

    rng = np.random.default_rng(1)
    n = 48
    rows = pd.DataFrame(
        {
            "face": range(n),
            "subject": [f"s{i % 6}" for i in range(n)],
            "clip": "c",
            "frame": range(n),
            "target": rng.integers(0, 11, n).astype(float),
            "gan": [1 if i % 4 == 0 else 0 for i in range(n)],
        }
    )
    table = FaceTable(ArrayFaces(rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)), rows)
    config = ExperimentConfig.model_validate(
        {
            "data": {"root": str(tmp_path), "target": "pain"},
            "split": SPLIT,
            "model": {"backbone": "resnet18", "input_size": 32, "head_hidden": [8]},
            "train": {"batch_size": 64, "epochs": 1, "early_stopping_patience": 0},
            "trainer": {"accelerator": "cpu"},
        }
    )
    result = run_experiment(config, table, tmp_path / "m")[0]
    pred = pd.read_csv(tmp_path / "m" / "predictions.csv")
    assert len(pred) > 0 and (pred["gan"] == 0).all()
    assert result.metrics["n"] == len(pred)


# -- the ablation ---------------------------------------------------------------------------
@pytest.mark.slow
def test_ablation_reports_differences_with_intervals(cli, trained, tmp_path):
    cfg = pain_config(tmp_path / "p.yaml", trained["tree"])
    result = cli(
        "augment", "ablation", "--config", str(cfg), "--gan", str(trained["gan"]),
        "--seeds", "2", "--per-level", "2", "--out", str(tmp_path / "abl"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert set(report["arms"]) == {"none", "classic", "gan", "classic+gan"}
    assert len(report["runs"]) == 8
    assert report["arms"]["none"]["n_synthetic_train"] == 0
    assert report["arms"]["gan"]["n_synthetic_train"] > 0
    for c in report["comparisons"]:
        lo, hi = c["mae"]["ci95"]
        assert lo <= c["mae"]["mean"] <= hi
        assert c["verdict"] in ("improvement", "worse", "no clear difference")
        assert c["mae_subject_bootstrap"]["n_subjects"] == 2
    q = report["gan_quality"]
    assert np.isfinite(q["frechet_distance"]) and np.isfinite(q["conditioning_mad"])
    assert "not Inception" in q["features"]
    md = (tmp_path / "abl" / "ablation.md").read_text()
    assert "t-interval" in md and "not a medical device" in md
    bad = cli("augment", "ablation", "--config", str(cfg), "--gan", str(trained["gan"]),
              "--seeds", "0")  # fmt: skip
    assert bad.code == 2
