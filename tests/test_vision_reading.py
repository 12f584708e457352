"""Reading photos and videos: formats by content, EXIF orientation, HEIC, and every kind
of broken file ending as a status, never a traceback."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pedpain.vision.reading import (
    HEIF_AVAILABLE,
    MediaRejected,
    VideoReader,
    read_image,
    sniff_kind,
)
from vision_media import grace, save, write_video


def _status(path: Path) -> str:
    with pytest.raises(MediaRejected) as info:
        read_image(path) if sniff_kind(path).kind == "image" else VideoReader(path)
    assert "\n" not in info.value.message
    return info.value.status


def _sniff_status(path: Path) -> str:
    with pytest.raises(MediaRejected) as info:
        sniff_kind(path)
    return info.value.status


def test_jpeg_and_png_read_as_rgb(tmp_path: Path) -> None:
    img = grace()
    png = read_image(save(tmp_path / "g.png", img))
    assert png.shape == img.shape and png.dtype == np.uint8
    assert np.array_equal(png, img)  # lossless, and RGB order kept
    jpg = read_image(save(tmp_path / "g.jpg", img))
    assert np.abs(jpg.astype(int) - img).mean() < 4


def test_exif_orientation_applied(tmp_path: Path) -> None:
    upright = grace()  # 600 x 512
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # lying on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=95, exif=exif)
    got = read_image(path)
    assert got.shape == upright.shape
    assert np.abs(got.astype(int) - upright).mean() < 5


def test_png_exif_orientation_applied(tmp_path: Path) -> None:
    upright = grace()
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "screen.png"
    stored.save(path, exif=exif)  # eXIf chunk before the image data
    got = read_image(path)
    assert got.shape == upright.shape
    assert np.abs(got.astype(int) - upright).mean() < 1


@pytest.mark.skipif(not HEIF_AVAILABLE, reason="pillow-heif not installed")
def test_heic_photo(tmp_path: Path) -> None:
    import pillow_heif

    path = tmp_path / "iphone.HEIC"
    pillow_heif.from_pillow(Image.fromarray(grace())).save(path, quality=90)
    assert sniff_kind(path).format == "heif"
    got = read_image(path)
    assert got.shape == (600, 512, 3)


def test_empty_file_unreadable(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert _sniff_status(tmp_path / "empty.jpg") == "unreadable"


def test_text_named_jpg_unsupported(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    assert _sniff_status(tmp_path / "notes.jpg") == "unsupported"


def test_truncated_jpeg_and_png_unreadable(tmp_path: Path) -> None:
    for name in ("t.jpg", "t.png"):
        full = save(tmp_path / f"full-{name}", grace()).read_bytes()
        (tmp_path / name).write_bytes(full[: len(full) // 2])
        assert _status(tmp_path / name) == "unreadable"


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_huge_dimensions_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing may decode pixels (Pillow's PNG getexif would: 30 GB for this one).
    decoded: list[str] = []

    def no_decoding(self: Image.Image) -> None:
        decoded.append(self.format or "?")
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))  # 10 gigapixels in 150 bytes
    assert _status(path) == "too_large"
    path2 = tmp_path / "wide.png"
    path2.write_bytes(_png_header_only(40_000, 10))  # few pixels but an absurd side
    assert _status(path2) == "too_large"
    assert decoded == []


def test_truncated_video_unreadable(tmp_path: Path) -> None:
    full = write_video(tmp_path / "full.mp4", 1, 25, size=(160, 120)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(full[: len(full) // 2])
    assert sniff_kind(tmp_path / "cut.mp4").kind == "video"
    assert _status(tmp_path / "cut.mp4") == "unreadable"


def test_video_frames_stream_and_skip(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c.avi", 1, 20, size=(160, 120), fourcc="MJPG")
    assert sniff_kind(path).format == "avi"
    with VideoReader(path) as reader:
        assert (reader.info.width, reader.info.height, reader.info.fps) == (160, 120, 20.0)
        frames = list(reader.frames(lambda i: i % 2 == 0))
    assert len(frames) == 20
    assert all((f is None) == (i % 2 == 1) for i, f in frames)
    assert frames[0][1] is not None and frames[0][1].shape == (120, 160, 3)


def test_formats_by_content_not_extension(tmp_path: Path) -> None:
    path = save(tmp_path / "photo.png", grace())
    renamed = tmp_path / "photo.mp4"
    path.rename(renamed)
    assert sniff_kind(renamed).format == "png"
    mkv = write_video(tmp_path / "c.mkv", 0.4, 25, size=(160, 120), fourcc="MJPG")
    assert sniff_kind(mkv).format == "mkv"
