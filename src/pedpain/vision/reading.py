"""Reading photos and videos safely: the content decides the format (never the extension),
sizes are checked on the header before anything is decoded, and every failure becomes a
``MediaRejected`` with one of the contract's statuses instead of a traceback.

Statuses: ``unreadable`` (empty, truncated, corrupt), ``unsupported`` (not an image or
video pedpain reads, e.g. a text file named .jpg), ``too_large`` (dimensions beyond the
limits: decompression bombs are refused before decoding).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps

from pedpain.core.errors import InputsRejected

MediaKind = Literal["image", "video"]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".bmp", ".tif", ".tiff"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".3gp"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
HALF_DECODE_PIXELS = 16_000_000  # JPEGs above this are decoded at half resolution

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
_MOV_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

# PIL's own bomb check would fire at its default limit; ours runs first with our limits.
Image.MAX_IMAGE_PIXELS = None

try:  # HEIC/HEIF through pillow-heif where it is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_AVAILABLE = True
except Exception:  # pragma: no cover - depends on the installation
    HEIF_AVAILABLE = False


class MediaRejected(InputsRejected):
    """A file pedpain will not process, with the contract status saying why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MediaFormat:
    kind: MediaKind
    format: str  # jpeg, png, heif, webp, bmp, tiff, mp4, avi, mkv


def sniff_kind(path: str | Path) -> MediaFormat:
    """What the file's first bytes say it is; raises MediaRejected when nothing fits."""
    p = Path(path)
    try:
        with p.open("rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise MediaRejected("unreadable", f"cannot open file: {exc.strerror or exc}") from None
    if not head:
        raise MediaRejected("unreadable", "empty file")
    fmt = _sniff(head)
    if fmt is None:
        raise MediaRejected(
            "unsupported",
            "not an image or video pedpain reads (content is not JPEG, PNG, HEIC, WebP, BMP, "
            "TIFF, MP4/MOV, AVI or MKV/WebM)",
        )
    return fmt


def _sniff(head: bytes) -> MediaFormat | None:
    if head.startswith(b"\xff\xd8\xff"):
        return MediaFormat("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaFormat("image", "png")
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            return MediaFormat("image", "heif")
        return MediaFormat("video", "mp4")
    if head[4:8] in _MOV_ATOMS:
        return MediaFormat("video", "mp4")
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return MediaFormat("video", "avi")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return MediaFormat("image", "webp")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaFormat("video", "mkv")
    if head.startswith(b"BM"):
        return MediaFormat("image", "bmp")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return MediaFormat("image", "tiff")
    return None


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag, 1 = upright


def probe_image(path: str | Path, max_megapixels: float, max_side: int) -> ImageHeader:
    """Header dimensions and EXIF orientation without decoding pixels; refuses huge sizes."""
    fmt = sniff_kind(path)
    if fmt.kind != "image":
        raise MediaRejected("unsupported", f"expected an image, found a {fmt.format} video")
    if fmt.format == "heif" and not HEIF_AVAILABLE:
        raise MediaRejected(
            "unsupported",
            "HEIC/HEIF photo but pillow-heif is not installed (pip install pillow-heif)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.size
                # Dimensions first: reading EXIF may make Pillow decode the pixels.
                _check_dimensions(width, height, max_megapixels, max_side)
                orientation = _orientation(img, fmt.format)
    except Image.DecompressionBombError:
        raise MediaRejected("too_large", "image dimensions exceed the decoder's limit") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected(
            "unreadable", f"corrupt or truncated {fmt.format} header ({exc})"
        ) from None
    return ImageHeader(fmt.format, width, height, orientation)


def _check_dimensions(width: int, height: int, max_megapixels: float, max_side: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaRejected("unreadable", f"invalid dimensions {width}x{height}")
    megapixels = width * height / 1e6
    if megapixels > max_megapixels or max(width, height) > max_side:
        raise MediaRejected(
            "too_large",
            f"{width}x{height} ({megapixels:.0f} MP) exceeds the limit of "
            f"{max_megapixels:g} MP / {max_side} px a side; refused before decoding",
        )


def _orientation(img: Image.Image, fmt: str) -> int:
    """The EXIF orientation tag without decoding pixels. A PNG's EXIF is used only when
    its eXIf chunk comes before the image data (Pillow's ``getexif`` would decode the
    whole image to look for a later one)."""
    try:
        if fmt == "png":
            raw = img.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = img.getexif()
        value = int(exif.get(0x0112, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image upright following its EXIF orientation tag (1..8)."""
    ops = {
        2: lambda a: cv2.flip(a, 1),
        3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
        4: lambda a: cv2.flip(a, 0),
        5: lambda a: cv2.flip(cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
        7: lambda a: cv2.flip(cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(rgb)) if op else rgb


def read_image(
    path: str | Path, max_megapixels: float = 100.0, max_side: int = 30000
) -> np.ndarray:
    """An upright RGB uint8 image (H, W, 3). Raises MediaRejected (unreadable, unsupported,
    too_large) for anything else; dimensions are checked before decoding. JPEGs over
    16 MP come back at half resolution (decoded with DCT scaling, much faster)."""
    p = Path(path)
    header = probe_image(p, max_megapixels, max_side)
    fmt = header.format
    if fmt in ("jpeg", "png"):
        # OpenCV's libjpeg-turbo decoder is several times faster than PIL's here; it
        # returns None on truncated data. Orientation is applied by us, from the header.
        data = np.fromfile(str(p), dtype=np.uint8)
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
        if fmt == "jpeg" and header.width * header.height > HALF_DECODE_PIXELS:
            # JPEG's DCT scaling decodes at half size for a fraction of the cost; the
            # result still has over 4 MP, far more than a 256 px face needs.
            flags = cv2.IMREAD_REDUCED_COLOR_2 | cv2.IMREAD_IGNORE_ORIENTATION
        try:
            bgr = cv2.imdecode(data, flags)
        except cv2.error:
            bgr = None
        if bgr is None:
            raise MediaRejected("unreadable", f"truncated or corrupt {fmt} data")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return apply_orientation(rgb, header.orientation)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(p) as img:
                img.load()
                upright = ImageOps.exif_transpose(img)
                rgb = np.asarray(upright.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected("unreadable", f"truncated or corrupt {fmt} data ({exc})") from None
    return np.ascontiguousarray(rgb)


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float  # nominal rate used for timing (25 when the file does not say)
    frame_count: int  # as declared by the container; may be approximate


class VideoReader:
    """Frames of a video one at a time (memory stays flat whatever the length).

    ``frames()`` yields ``(source_index, rgb or None)``; ``None`` when ``want(index)`` said
    the frame is not needed (it is then only grabbed, not converted).
    """

    def __init__(self, path: str | Path, max_megapixels: float = 36.0) -> None:
        fmt = sniff_kind(path)
        if fmt.kind != "video":
            raise MediaRejected("unsupported", f"expected a video, found a {fmt.format} image")
        self.path = Path(path)
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise MediaRejected(
                "unreadable", f"cannot open {fmt.format} video (truncated or corrupt)"
            )
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        try:
            _check_dimensions(width, height, max_megapixels, 16384)
        except MediaRejected:
            cap.release()
            raise
        if not math.isfinite(fps) or not 1.0 <= fps <= 1000.0:
            fps = 25.0  # containers without a usable rate: assume the output rate
        self._cap = cap
        self.info = VideoInfo(width, height, fps, max(count, 0))

    def frames(self, want: object = None) -> Iterator[tuple[int, np.ndarray | None]]:
        index = 0
        cap = self._cap
        while True:
            try:
                if not cap.grab():
                    break
                needed = want is None or bool(want(index))  # type: ignore[operator]
                frame = None
                if needed:
                    ok, bgr = cap.retrieve()
                    if not ok or bgr is None:
                        break
                    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            except cv2.error:
                break  # a corrupt tail ends the stream; what was read is kept
            yield index, frame
            index += 1

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
