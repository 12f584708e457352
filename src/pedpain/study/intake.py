"""Media intake: what a bedside assessment may store. Every photo is decoded and every
clip probed (opened and read to its end) before anything is stored, so a truncated JPEG,
a PNG whose header claims 60000 x 60000 pixels, a truncated MP4 or a web page named .jpg
is refused with the reason (HTTP 415, or 413 when too large) and nothing is written."""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pedpain.store.media import sha256_hex
from pedpain.study.errors import MediaRefused
from pedpain.vision.reading import MediaRejected, VideoReader, read_image, sniff_kind

MAX_PHOTOS = 3
#: Largest photo decoded (megapixels, pixels a side): far above the protocol's 20 MP
#: camera, far below what a forged header can claim.
MAX_PHOTO_MEGAPIXELS = 100.0
MAX_PHOTO_SIDE = 30_000
#: The protocol's clip lasts 10 s; anything over this is not a bedside clip.
MAX_CLIP_SECONDS = 120.0


@dataclass
class Upload:
    name: str
    data: bytes


@dataclass
class CheckedMedia:
    kind: str  # photo | video
    slot: str
    data: bytes
    sha: str
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: float | None = None
    duration_s: float | None = None


def _ext(fmt: str) -> str:
    return {"jpeg": "jpg", "mkv": "webm"}.get(fmt, fmt)


def _probe_clip(path: Path) -> tuple[int, int, int, float]:
    """Read the clip to its end (frames are grabbed, not converted): width, height,
    frames, fps. A clip with no decodable frame is unreadable."""
    with VideoReader(path) as reader:
        info = reader.info
        frames = 0
        limit = int(MAX_CLIP_SECONDS * info.fps) + 1
        for _index, _frame in reader.frames(want=lambda i: i == 0):
            frames += 1
            if frames > limit:
                raise MediaRejected("too_large", f"the clip is longer than {MAX_CLIP_SECONDS:g} s")
    if frames == 0:
        raise MediaRejected("unreadable", "no frame could be decoded (truncated or corrupt)")
    return info.width, info.height, frames, info.fps


def check_one(upload: Upload, workdir: Path, index: int) -> CheckedMedia:
    """One upload recognised by its content (never its name) and fully decoded; raises
    :class:`MediaRefused` with a sentence a nurse understands."""
    probe = workdir / f"probe-{index}"
    probe.write_bytes(upload.data)
    what = f"file {index + 1} ({upload.name[:60]})"
    try:
        fmt = sniff_kind(probe)
        if fmt.kind == "image":
            rgb = read_image(probe, MAX_PHOTO_MEGAPIXELS, MAX_PHOTO_SIDE)
            height, width = int(rgb.shape[0]), int(rgb.shape[1])
            return CheckedMedia(
                "photo", _ext(fmt.format), upload.data, sha256_hex(upload.data), width, height
            )
        width, height, frames, fps = _probe_clip(probe)
        return CheckedMedia(
            "video",
            _ext(fmt.format),
            upload.data,
            sha256_hex(upload.data),
            width,
            height,
            frames,
            fps,
            round(frames / fps, 3) if fps else None,
        )
    except MediaRejected as exc:
        raise MediaRefused(exc.status, f"{what} was refused: {exc.message}") from None
    finally:
        probe.unlink(missing_ok=True)


def check_uploads(uploads: list[Upload], max_bytes: int | None = None) -> list[CheckedMedia]:
    """1-3 photos or one clip, each decoded in full; the first refusal stops the intake
    (nothing has been stored yet). Slots are named ``photo_N.EXT`` or ``clip.EXT``."""
    uploads = [u for u in uploads if u.data]
    if not uploads:
        raise MediaRefused("unsupported", "add 1 to 3 photos or one 10 s clip")
    if len(uploads) > MAX_PHOTOS:
        raise MediaRefused("unsupported", f"at most {MAX_PHOTOS} photos or one clip")
    for i, up in enumerate(uploads):
        if max_bytes is not None and len(up.data) > max_bytes:
            raise MediaRefused("too_large", f"file {i + 1} is over {max_bytes // (1024 * 1024)} MB")
    with tempfile.TemporaryDirectory(prefix="pedpain-intake-") as tmp:
        checked = [check_one(up, Path(tmp), i) for i, up in enumerate(uploads)]
    kinds = Counter(c.kind for c in checked)
    if kinds["video"] > 1 or (kinds["video"] and kinds["photo"]):
        raise MediaRefused("unsupported", "one assessment is 1 to 3 photos or one clip, not both")
    for i, c in enumerate(checked):
        c.slot = f"photo_{i + 1}.{c.slot}" if c.kind == "photo" else f"clip.{c.slot}"
    return checked
