"""The packed training form: written by the pipeline, read back by PackedFaces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pedpain.vision import PackedFaces, PreprocessConfig
from pedpain.vision.packed import INDEX_COLUMNS, PackSource, write_packed
from pedpain.vision.pipeline import run_preprocess
from vision_media import astronaut, grace, save, write_video


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    rows_a = [
        {"input": "a.mp4", "frame_index": i, "time_s": i / 25, "valid": 1, "reason": ""}
        for i in range(3)
    ]
    rows_b = [
        {
            "input": "b.jpg",
            "frame_index": i,
            "time_s": 0,
            "valid": int(i != 2),
            "reason": "" if i != 2 else "too_blurred",
        }
        for i in range(4)
    ]
    meta = write_packed(
        tmp_path,
        [PackSource(tmp_path / "a.npy", rows_a), PackSource(tmp_path / "b.npy", rows_b)],
        32,
        shard_size=5,
    )
    assert meta["count"] == 7 and meta["shards"] == ["shard-00000.npy", "shard-00001.npy"]
    faces = PackedFaces(tmp_path)
    assert len(faces) == 7 and faces.size == 32
    expected = np.concatenate([a, b])
    for i in range(7):
        assert np.array_equal(faces[i], expected[i])
    assert np.array_equal(faces.batch([6, 0]), expected[[6, 0]])
    # Across both shards, out of order, repeated and negative: the asked order comes back.
    order = [5, 1, 6, 1, -1, 0, 4]
    assert np.array_equal(faces.batch(order), expected[order])
    assert faces.batch([]).shape == (0, 32, 32, 3)
    with pytest.raises(IndexError):
        faces.batch([0, 7])
    assert faces[-1].dtype == np.uint8
    assert len(PackedFaces(tmp_path, valid_only=True)) == 6
    with pytest.raises(IndexError):
        faces[7]
    shard = np.load(tmp_path / "packed" / "shard-00001.npy", mmap_mode="r")
    assert shard.shape == (2, 32, 32, 3)
    with (tmp_path / "packed" / "index.csv").open() as handle:
        assert tuple(csv.DictReader(handle).fieldnames or ()) == INDEX_COLUMNS


def test_pipeline_pack_matches_images(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    save(inputs / "grace.png", grace())
    save(inputs / "astro.png", astronaut())
    write_video(inputs / "clip.mp4", 1, 25, (320, 240))
    config = PreprocessConfig(size=96, image_format="png", denoise=False)
    summary = run_preprocess([inputs], tmp_path / "out", config)
    faces = PackedFaces(tmp_path / "out")
    assert len(faces) == summary["packed_faces"] == 27
    meta = json.loads((tmp_path / "out" / "packed" / "meta.json").read_text())
    assert meta["preprocess"]["size"] == 96 and meta["color"] == "RGB"
    # the packed array is exactly the stored (lossless PNG) image
    import cv2

    row = faces.rows[0]
    with (tmp_path / "out" / "frames.csv").open() as handle:
        frames = [
            r
            for r in csv.DictReader(handle)
            if r["input"] == row["input"] and r["frame_index"] == row["frame_index"]
        ]
    stored = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / frames[0]["path"])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(stored, faces[0])


def test_video_parts_become_shards_by_link_in_source_order(tmp_path: Path) -> None:
    from pedpain.vision.packed import LINK_MIN

    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    video = rng.integers(0, 256, (LINK_MIN + 3, 16, 16, 3), dtype=np.uint8)
    parts = tmp_path / "parts"
    parts.mkdir()
    sources = []
    for name, arr in (("p1", photo), ("v", video), ("p2", photo[:, ::-1])):
        np.save(parts / f"{name}.npy", np.ascontiguousarray(arr))
        rows = [
            {"input": name, "frame_index": i, "time_s": 0, "valid": 1, "reason": ""}
            for i in range(len(arr))
        ]
        sources.append(PackSource(parts / f"{name}.npy", rows))
    meta = write_packed(tmp_path, sources, 16, shard_size=4)
    faces = PackedFaces(tmp_path)
    expected = np.concatenate([photo, video, photo[:, ::-1]])
    assert meta["count"] == len(expected) == len(faces)
    assert [r["input"] for r in faces.rows][:2] == ["p1", "v"] and faces.rows[-1]["input"] == "p2"
    assert np.array_equal(faces.batch(range(len(faces))), expected)
    # The video's part is the shard itself (linked, not copied); photos share one shard.
    video_shard = tmp_path / "packed" / faces.rows[1]["shard"]
    assert video_shard.stat().st_ino == (parts / "v.npy").stat().st_ino
    assert faces.rows[0]["shard"] == faces.rows[-1]["shard"] != faces.rows[1]["shard"]
    # A rerun replaces parts by rename: the pack keeps its data.
    (parts / "v.npy").unlink()
    np.save(parts / "v.npy", np.zeros_like(video))
    assert np.array_equal(PackedFaces(tmp_path).batch([1, 2]), video[:2])
