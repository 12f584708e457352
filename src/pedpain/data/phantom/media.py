"""Writing the phantom's files: atomic, and marked synthetic inside the file where that is
cheap (a JPEG comment segment, a PNG text chunk)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2 as _cv2
import numpy as np

from pedpain.core.files import ATOMIC_TEMPORARY

# OpenCV's stubs reject the float32 canvases and tuple colours it accepts at run time.
cv2: Any = _cv2

MARK = "SYNTHETIC: pedpain phantom (generated face, no real person)"


def jpeg_bytes(rgb: np.ndarray, quality: int, note: str = MARK) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise RuntimeError("JPEG encoding failed")
    data = buf.tobytes()
    text = note.encode("ascii", "replace")[:60000]
    comment = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
    return data[:2] + comment + data[2:]  # right after SOI


def png_bytes(rgb: np.ndarray, note: str = MARK, compression: int = 1) -> bytes:
    ok, buf = cv2.imencode(
        ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, compression]
    )
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    body = b"Comment\x00" + note.encode("latin-1", "replace")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return data[:end_of_ihdr] + chunk + data[end_of_ihdr:]


#: The temporary names this module stages to (``put_bytes``: ``.<name>.<pid>.tmp``;
#: ``VideoFile``: ``.<stem>.<pid>.tmp.mp4``), swept when a phantom run starts or resumes.
TEMPORARIES = (ATOMIC_TEMPORARY, ".*.tmp.mp4")


def put_bytes(path: Path, data: bytes) -> None:
    """Write under a temporary name and rename: a killed run never leaves a half file
    under the final name. (No fsync per file: thousands of small label files would crawl;
    the whole tree is renamed into place only when complete.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def put_text(path: Path, text: str) -> None:
    put_bytes(path, text.encode("ascii"))


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> str:
    data = jpeg_bytes(rgb, quality)
    put_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class VideoFile:
    """An mp4 (MPEG-4 part 2, 'mp4v') written under a temporary name, renamed on close."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # OpenCV picks the container from the extension, so the temporary name ends .mp4.
        self.tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise RuntimeError(f"cannot open a video writer for {path}")
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        self.writer.release()
        with open(self.tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.writer.release()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()
