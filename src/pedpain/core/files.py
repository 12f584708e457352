"""Atomic file writing: outputs appear whole under their final name or not at all, and
what a killed writer staged under a temporary name is swept when the work resumes."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only on success.

    A crash or exception inside the block leaves any previous ``path`` untouched and no
    partial file under the final name.
    """
    if "w" not in mode:
        raise ValueError("atomic_write only writes")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    with atomic_write(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


#: The names ``atomic_write`` stages to: ``.<final name>.<random>.tmp`` beside the target.
ATOMIC_TEMPORARY = ".*.tmp"


def sweep_temporaries(
    folder: str | os.PathLike[str],
    patterns: Iterable[str] = (ATOMIC_TEMPORARY,),
    *,
    recursive: bool = False,
) -> list[Path]:
    """Delete what a killed writer left under ``folder``; return what was removed.

    Each writer calls this when it starts or resumes, with the glob patterns (matched
    against names, ``fnmatch`` style) of the temporary names it stages to, so a finished
    output never carries a stale temporary and a crash leaves no lasting trace. Matching
    is by name only, never by age: a pattern must be specific to temporaries (a leading
    dot and a ``.tmp``/``.part`` suffix), since whatever matches is deleted, folders
    included. Symbolic links are removed, never followed.
    """
    root = Path(folder)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    wanted = tuple(patterns)

    def matches(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in wanted)

    for current, dirs, files in os.walk(root):
        base = Path(current)
        for name in list(dirs):
            path = base / name
            if matches(name):
                dirs.remove(name)
                if path.is_symlink():
                    path.unlink(missing_ok=True)
                else:
                    shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        for name in files:
            if matches(name):
                (base / name).unlink(missing_ok=True)
                removed.append(base / name)
        if not recursive:
            break
    return removed
