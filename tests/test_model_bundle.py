"""The model-folder format (pedpain.models.bundle): typed, versioned metadata and
sidecars that are checked on every load; a damaged folder is refused by every reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_folders import write_model_folder
from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.settings import load_settings
from pedpain.models import bundle
from pedpain.models.bundle import (
    META_FILE,
    ONNX_META,
    PREPROCESSING_FILE,
    QUALITY_FILE,
    TEMPORAL_FILE,
    TEMPORAL_META,
    load_model_folder,
    read_model_meta,
    resolve_model_folder,
)
from pedpain.web.engines import set_active


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_model_folder(tmp_path / "home" / "models" / "m1")


def test_a_written_folder_reads_back_with_typed_versioned_metadata(folder: Path) -> None:
    loaded = load_model_folder(folder)
    info = loaded.info
    assert info.format_version == bundle.MODEL_FORMAT_VERSION
    assert (info.backbone, info.target_max, info.head_hidden) == ("resnet18", 10.0, [8])
    assert loaded.meta["subjects_test"] == ["P02"]  # extra keys kept as written
    assert bundle.read_preprocessing(folder).size == 64
    assert bundle.read_quality(folder) is None and bundle.read_temporal(folder) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("backbone"), "'backbone' Field required"),
        (lambda m: m.update(target_max="ten"), "'target_max'"),
        (lambda m: m.update(format_version=99), "upgrade pedpain"),
        (lambda m: m.update(format="other"), "not a pedpain model folder"),
    ],
)
def test_damaged_or_newer_metadata_is_refused(folder: Path, change, message) -> None:
    meta = json.loads((folder / META_FILE).read_text())
    change(meta)
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(EnvironmentProblem, match=message):
        read_model_meta(folder)


def test_writer_refuses_metadata_its_readers_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="target_max"):
        write_model_folder(tmp_path / "m", target_max=-1)
    assert not (tmp_path / "m" / META_FILE).exists()


def _damage(folder: Path, which: str) -> None:
    if which == "preprocessing-missing":
        (folder / PREPROCESSING_FILE).unlink()
    elif which == "preprocessing-broken":
        (folder / PREPROCESSING_FILE).write_text("{not json")
    elif which == "preprocessing-invalid":
        (folder / PREPROCESSING_FILE).write_text(json.dumps({"preprocess": {"size": 5}}))
    elif which == "quality":
        (folder / QUALITY_FILE).write_text("[1, 2")
    elif which == "temporal":
        (folder / TEMPORAL_FILE).write_bytes(b"weights")
        (folder / TEMPORAL_META).write_text(json.dumps({"kind": "attention", "dim": 8}))
    elif which == "onnx":
        (folder / ONNX_META).write_text(json.dumps({"weights_sha256": 1}))


DAMAGES = [
    "preprocessing-missing",
    "preprocessing-broken",
    "preprocessing-invalid",
    "quality",
    "temporal",
    "onnx",
]


@pytest.mark.parametrize("which", DAMAGES)
def test_a_damaged_sidecar_is_refused_by_assess_evaluate_export_and_the_registry(
    folder: Path, which: str, cli, tmp_path: Path
) -> None:
    _damage(folder, which)
    with pytest.raises(EnvironmentProblem):
        load_model_folder(folder)
    photo = tmp_path / "face.jpg"
    photo.write_bytes(b"not read: the model is refused first")
    data = tmp_path / "faces"
    data.mkdir()
    for args in (
        ("assess", str(photo), "--model", str(folder), "--age", "4y"),
        ("evaluate", "--model", str(folder), "--data", str(data), "--out", str(tmp_path / "e")),
        ("export", "onnx", "--model", str(folder)),
    ):
        r = cli(*args)
        assert r.code == 4, (args, r.err)
        assert r.err.startswith("pedpain: error:") and r.err.count("\n") == 1, r.err
    home = folder.parent.parent
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'p.db'}")
    with pytest.raises(UsageError, match="cannot be made active"):
        set_active(settings, folder.name)


def test_active_model_comes_from_the_settings(folder: Path, monkeypatch) -> None:
    home = folder.parent.parent
    settings = load_settings(home=home)
    with pytest.raises(EnvironmentProblem, match="no model"):
        resolve_model_folder(None, settings)
    (home / "models" / "active").symlink_to("m1")
    assert resolve_model_folder(None, settings) == folder.resolve()
    other = write_model_folder(home / "elsewhere")
    assert resolve_model_folder(None, load_settings(home=home, model=other)) == other.resolve()
    # The assessment's lookup goes through the settings too (PEDPAIN_MODEL is one).
    from pedpain.assess.backend import resolve_model

    monkeypatch.setenv("PEDPAIN_MODEL", str(other))
    assert resolve_model(None, home) == other.resolve()
    monkeypatch.delenv("PEDPAIN_MODEL")
    assert resolve_model(None, home) == folder.resolve()


def test_scoring_a_model_folder_loads_no_training_code(tmp_path: Path) -> None:
    """`pedpain evaluate --model` scores a folder with the model-folder reader and the
    data layer only: neither pedpain.training nor Lightning is imported."""
    import subprocess
    import sys

    from training_fixtures import make_unbc_tree

    model = write_model_folder(tmp_path / "m")
    tree = make_unbc_tree(tmp_path / "unbc", frames_per_seq=3)
    code = (
        "import json, sys; from pedpain.cli.main import run; "
        "code = run(sys.argv[1:]); "
        "heavy = ('pedpain.training', 'lightning'); "
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy)); "
        "print(json.dumps({'code': code, 'loaded': loaded}), file=sys.stderr)"
    )
    args = ["evaluate", "--model", str(model), "--data", str(tree), "--out", str(tmp_path / "e")]
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, out.stderr
    assert report["loaded"] == []
    assert (tmp_path / "e" / "metrics.json").is_file()
