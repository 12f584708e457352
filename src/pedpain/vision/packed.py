"""The packed form of aligned faces for training: uint8 arrays in ``.npy`` shards plus an
index, so a training loop reads faces by memory map and never decodes an image file.

Layout (docs/formats/packed_faces.md)::

    DIR/packed/meta.json          format, version, size, dtype, colour order, counts
    DIR/packed/index.csv          one row per face: row, input, frame_index, time_s,
                                  valid, reason, shard, offset
    DIR/packed/shard-00000.npy    uint8 array (n, size, size, 3), RGB

Face ``i`` of the index is ``np.load(shard, mmap_mode="r")[offset]``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pedpain.core.files import atomic_write_text

FORMAT_NAME = "pedpain-packed-faces"
FORMAT_VERSION = 1
INDEX_COLUMNS = ("row", "input", "frame_index", "time_s", "valid", "reason", "shard", "offset")


@dataclass(frozen=True)
class PackSource:
    """One item's faces to pack: an (n, S, S, 3) uint8 ``.npy`` file and its n rows."""

    array_path: Path
    rows: Sequence[dict[str, Any]]  # input, frame_index, time_s, valid, reason


LINK_MIN = 64  # a part holding at least this many faces (a video) becomes a shard itself


def write_packed(
    root: Path,
    sources: Sequence[PackSource],
    size: int,
    shard_size: int = 1024,
    extra_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build ``root/packed`` from per-item arrays; the folder is replaced whole at the end,
    so a reader never sees a half-built pack. Returns the meta document.

    A part with at least ``LINK_MIN`` faces (a video's frames) becomes a shard of its own
    by a hard link to the part file (a plain file copy where the file system cannot
    link), so a video's faces are not copied face by face and, when linked, not stored
    twice. Smaller parts (photos) are copied into shards of ``shard_size`` faces, so a
    photo study does not open one file per photo. Index rows follow the sources' order.
    """
    root = Path(root)
    build = Path(tempfile.mkdtemp(prefix=".packed-build-", dir=root))
    try:
        index_rows: list[dict[str, Any]] = []
        shard_names: list[str] = []
        small_left = sum(len(s.rows) for s in sources if 0 < len(s.rows) < LINK_MIN)
        shard: Any = None  # the open np.memmap of the copy shard being filled
        shard_name = ""
        offset = 0

        def add_row(row: dict[str, Any], name: str, at: int) -> None:
            index_rows.append(
                {
                    "row": len(index_rows),
                    **{k: row.get(k, "") for k in INDEX_COLUMNS[1:6]},
                    "shard": name,
                    "offset": at,
                }
            )

        def new_name() -> str:
            shard_names.append(f"shard-{len(shard_names):05d}.npy")
            return shard_names[-1]

        for source in sources:
            if not source.rows:
                continue
            faces = np.load(source.array_path, mmap_mode="r")
            if faces.shape[0] != len(source.rows) or faces.shape[1:] != (size, size, 3):
                raise ValueError(f"packed part {source.array_path} does not match its rows")
            if len(source.rows) >= LINK_MIN:
                name = new_name()
                _link_or_copy(Path(source.array_path), build / name)
                for at, row in enumerate(source.rows):
                    add_row(row, name, at)
                continue
            for face, row in zip(faces, source.rows, strict=True):
                if shard is None:
                    shard_name = new_name()
                    shard = np.lib.format.open_memmap(
                        build / shard_name,
                        mode="w+",
                        dtype=np.uint8,
                        shape=(min(shard_size, small_left), size, size, 3),
                    )
                    offset = 0
                shard[offset] = face
                add_row(row, shard_name, offset)
                offset += 1
                small_left -= 1
                if offset == shard.shape[0]:
                    shard.flush()
                    del shard
                    shard = None
            del faces
        with (build / "index.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS)
            writer.writeheader()
            writer.writerows(index_rows)
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "size": size,
            "channels": 3,
            "dtype": "uint8",
            "color": "RGB",
            "count": len(index_rows),
            "shard_size": shard_size,
            "shards": shard_names,
            **(extra_meta or {}),
        }
        atomic_write_text(build / "meta.json", json.dumps(meta, indent=2) + "\n")
        _replace_dir(build, root / "packed")
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return meta


def _link_or_copy(part: Path, shard: Path) -> None:
    """The part file as a shard: a hard link (no bytes copied; the part is never written
    in place, a rerun replaces it by rename), else a whole-file copy."""
    try:
        os.link(part, shard)
    except OSError:
        shutil.copyfile(part, shard)


def _replace_dir(new: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class PackedFaces:
    """Random access to packed faces: ``faces[i]`` is an (S, S, 3) uint8 RGB array.

    Shards are memory-mapped lazily (per process, so it is safe in DataLoader workers).
    ``valid_only=True`` hides frames marked invalid. ``rows[i]`` is the index row of face i.
    """

    def __init__(self, root: str | os.PathLike[str], valid_only: bool = False) -> None:
        path = Path(root)
        if (path / "packed" / "meta.json").is_file():
            path = path / "packed"
        meta_path = path / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"no packed faces at {root} (meta.json missing)")
        self.root = path
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("format") != FORMAT_NAME or self.meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path} is not {FORMAT_NAME} version {FORMAT_VERSION}")
        with (path / "index.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if valid_only:
            rows = [r for r in rows if r["valid"] in ("1", "True", "true")]
        self.rows = rows
        self._shard_of = [r["shard"] for r in rows]
        self._offset = np.array([int(r["offset"]) for r in rows], dtype=np.int64)
        self._maps: dict[str, np.ndarray] = {}
        self._pid = os.getpid()

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    def __len__(self) -> int:
        return len(self.rows)

    def _shard(self, name: str) -> np.ndarray:
        if self._pid != os.getpid():  # forked worker: open its own maps
            self._maps, self._pid = {}, os.getpid()
        arr = self._maps.get(name)
        if arr is None:
            arr = np.load(self.root / name, mmap_mode="r")
            self._maps[name] = arr
        return arr

    def __getitem__(self, i: int) -> np.ndarray:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"face {i} out of range 0..{len(self) - 1}")
        return np.array(self._shard(self._shard_of[i])[self._offset[i]])

    def batch(self, indices: Sequence[int]) -> np.ndarray:
        """Faces ``indices`` as one (n, S, S, 3) array, in the order asked.

        One fancy-indexed read per shard (offsets sorted, so the memory map is walked
        forwards) instead of one Python call per face: the training loader's batch path.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"face index out of range 0..{n - 1}")
        idx = np.where(idx < 0, idx + n, idx)
        out = np.empty((idx.size, self.size, self.size, 3), dtype=np.uint8)
        shards = np.array([self._shard_of[i] for i in idx.tolist()], dtype=object)
        for name in dict.fromkeys(shards.tolist()):
            where = np.flatnonzero(shards == name)
            offsets = self._offset[idx[where]]
            order = np.argsort(offsets, kind="stable")
            out[where[order]] = self._shard(name)[offsets[order]]
        return out
