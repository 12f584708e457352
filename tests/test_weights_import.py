"""``pedpain weights import``: VGG-Face and torchvision VGG-16 state dicts, made here
with the published layer names and shapes, mapped onto the vgg16 backbone."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import torchvision

from pedpain.models.registry import create_backbone
from pedpain.models.weights_import import VGG16_CONV_INDEX, VGG16_CONV_NAMES


def torchvision_vgg16() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).state_dict()


def vggface_from(tv: dict[str, torch.Tensor], fc6_conv: bool = False) -> dict[str, torch.Tensor]:
    """The layout of VGG-Face's PyTorch conversions: conv1_1 ... conv5_3, fc6-fc8 with
    2,622 identities in fc8."""
    state = {}
    for name, idx in zip(VGG16_CONV_NAMES, VGG16_CONV_INDEX, strict=True):
        state[f"{name}.weight"] = tv[f"features.{idx}.weight"]
        state[f"{name}.bias"] = tv[f"features.{idx}.bias"]
    fc6 = tv["classifier.0.weight"]
    state["fc6.weight"] = fc6.reshape(4096, 512, 7, 7) if fc6_conv else fc6
    state["fc6.bias"] = tv["classifier.0.bias"]
    state["fc7.weight"], state["fc7.bias"] = tv["classifier.3.weight"], tv["classifier.3.bias"]
    state["fc8.weight"], state["fc8.bias"] = torch.randn(2622, 4096), torch.randn(2622)
    return state


@pytest.fixture(scope="module")
def tv() -> dict[str, torch.Tensor]:
    return torchvision_vgg16()


@pytest.mark.parametrize("fc6_conv", [False, True])
def test_vggface_maps_onto_vgg16_and_loads_as_model_weights(tmp_path, cli, tv, fc6_conv):
    src = tmp_path / "vgg_face_dag.pth"
    torch.save(vggface_from(tv, fc6_conv), src)
    out = tmp_path / "w" / "vggface.pt"
    r = cli("weights", "import", src, "--kind", "vggface", "--backbone", "vgg16", "--out", out,
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    record = json.loads((tmp_path / "w" / "vggface.pt.json").read_text())
    assert record["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert doc["source_sha256"] == record["source_sha256"]
    assert record["dropped"] == ["fc8.bias", "fc8.weight"] and record["mapping"]["conv3_3"] == (
        "features.14"
    )
    written = torch.load(out, weights_only=True)
    assert torch.equal(written["features.14.weight"], tv["features.14.weight"])
    assert torch.equal(written["classifier.0.weight"], tv["classifier.0.weight"])
    assert not any(k.startswith("classifier.6") for k in written)
    # What model.weights does with it: the backbone's convolutions are VGG-Face's.
    backbone = create_backbone("vgg16", weights=out)
    assert torch.equal(backbone.body.features[28].weight, tv["features.28.weight"])


def test_torchvision_checkpoint_drops_the_imagenet_classes(tmp_path, cli, tv):
    src = tmp_path / "vgg16-imagenet.pth"
    torch.save({f"module.{k}": v for k, v in tv.items()}, src)  # a DataParallel save
    out = tmp_path / "imagenet.pt"
    r = cli("weights", "import", src, "--kind", "torchvision", "--out", out)
    assert r.code == 0, r.err
    written = torch.load(out, weights_only=True)
    assert set(written) == {k for k in tv if not k.startswith("classifier.6")}


def test_mismatches_are_refused_with_a_clear_message(tmp_path, cli, tv):
    wrong = vggface_from(tv)
    wrong["conv3_2.weight"] = torch.zeros(256, 128, 3, 3)
    torch.save(wrong, tmp_path / "wrong.pth")
    r = cli("weights", "import", tmp_path / "wrong.pth", "--kind", "vggface",
            "--out", tmp_path / "o.pt")  # fmt: skip
    assert r.code == 2 and r.err.count("\n") == 1
    assert (
        "conv3_2.weight (features.12.weight) is (256, 128, 3, 3), vgg16 needs (256, 256, 3, 3)"
        in r.err
    )
    assert not (tmp_path / "o.pt").exists()

    missing = vggface_from(tv)
    del missing["conv5_3.bias"]
    torch.save(missing, tmp_path / "missing.pth")
    r = cli("weights", "import", tmp_path / "missing.pth", "--kind", "vggface",
            "--out", tmp_path / "o.pt")  # fmt: skip
    assert r.code == 2 and "lacks 1 of vgg16's tensors, first conv5_3.bias" in r.err

    torch.save(tv, tmp_path / "tv.pth")  # torchvision names given as VGG-Face
    r = cli(
        "weights", "import", tmp_path / "tv.pth", "--kind", "vggface", "--out", tmp_path / "o.pt"
    )
    assert r.code == 2 and "not VGG-Face layer names" in r.err

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    r = cli(
        "weights", "import", tmp_path / "junk.pth", "--kind", "vggface", "--out", tmp_path / "o.pt"
    )
    assert r.code == 2 and "not a PyTorch state dict" in r.err
    r = cli(
        "weights", "import", tmp_path / "none.pth", "--kind", "vggface", "--out", tmp_path / "o.pt"
    )
    assert r.code == 2 and "not found" in r.err
    r = cli("weights", "import", tmp_path / "tv.pth", "--kind", "torchvision", "--backbone",
            "resnet50", "--out", tmp_path / "o.pt")  # fmt: skip
    assert r.code == 2 and "vgg16 only" in r.err
    assert not (tmp_path / "o.pt").exists()
