"""The encrypted, content-addressed media store under ``PEDPAIN_HOME/media``.

Each photo or video is stored once, named by the SHA-256 of its plaintext
(``media/ab/abcd...``: one level of 256 folders keeps directory creation cheap),
encrypted with AES-256-GCM. A stored file is::

    b"PPM1" | key id (8 bytes) | nonce (12 bytes) | ciphertext + tag

The address is bound into the authentication tag (associated data), so a file moved under
another name fails to decrypt. The key id lets files written under two keys coexist while
a key rotation is under way. The key itself lives outside the database and the data root:
a key file (``PEDPAIN_KEY_FILE``, base64 of 32 bytes, mode 0600) or the environment
(``PEDPAIN_MEDIA_KEY``, base64).

New files are written to a per-process staging folder first and renamed into place only
after the database has committed the rows that reference them (see the importer);
:meth:`MediaStore.sweep_staging` completes or removes what a killed process left there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.logging import get_logger
from pedpain.core.settings import Settings

log = get_logger(__name__)

MAGIC = b"PPM1"
_HEADER = len(MAGIC) + 8 + 12
KEY_BYTES = 32
STAGING = ".staging"
NO_KEY_MESSAGE = (
    "no media key: set PEDPAIN_KEY_FILE to a key file (make one with "
    "`pedpain db keygen --out FILE`, kept outside the data folder) or PEDPAIN_MEDIA_KEY"
)


class MediaIntegrityError(Exception):
    """A stored file is not what its name says (altered, truncated or foreign)."""


@dataclass(frozen=True)
class MediaKey:
    key: bytes

    @property
    def key_id(self) -> str:
        # A public fingerprint of the key, safe to store in files and in the database.
        return hashlib.sha256(b"pedpain-media-key-id:" + self.key).hexdigest()[:16]

    @classmethod
    def from_base64(cls, text: str, source: str) -> MediaKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EnvironmentProblem(f"{source} is not base64 text") from None
        if len(raw) != KEY_BYTES:
            raise EnvironmentProblem(f"{source} must hold {KEY_BYTES} bytes, not {len(raw)}")
        return cls(raw)

    @classmethod
    def from_file(cls, path: Path) -> MediaKey:
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise EnvironmentProblem(f"media key file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise EnvironmentProblem(f"cannot read media key file {path}: {exc}") from None
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("media key file %s is readable by others: chmod 600 it", path)
        return cls.from_base64(text, f"media key file {path}")


def load_media_key(settings: Settings) -> MediaKey:
    """The configured key: key file first, then PEDPAIN_MEDIA_KEY; exit 4 when neither."""
    if settings.key_file is not None:
        return MediaKey.from_file(Path(settings.key_file))
    if settings.media_key is not None:
        return MediaKey.from_base64(settings.media_key.get_secret_value(), "PEDPAIN_MEDIA_KEY")
    raise EnvironmentProblem(NO_KEY_MESSAGE)


def write_new_key(path: Path) -> MediaKey:
    """Create a new random key file, readable by its owner only; never overwrite one."""
    key = MediaKey(secrets.token_bytes(KEY_BYTES))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists: a key is never overwritten") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key.key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)
    return key


def media_path(root: Path, sha: str) -> Path:
    """Where the file with plaintext digest ``sha`` lives under the media root."""
    return Path(f"{root}/{sha[:2]}/{sha}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MediaStore:
    """Encrypted files under ``root``; ``keys`` maps key id -> key (first = the one that
    writes)."""

    def __init__(self, root: Path, key: MediaKey, *more_keys: MediaKey) -> None:
        self.root = Path(root)
        self.key = key
        self.keys = {k.key_id: k for k in (key, *more_keys)}
        self._staging: Path | None = None
        self._folders: set[str] = set()  # media folders known to exist

    # -- addressing -------------------------------------------------------------------
    def path_for(self, sha: str) -> Path:
        return media_path(self.root, sha)

    def has(self, sha: str) -> bool:
        return os.path.isfile(f"{self.root}/{sha[:2]}/{sha}")

    # -- crypto -----------------------------------------------------------------------
    def encrypt(self, plain: bytes, sha: str) -> bytes:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.key.key).encrypt(nonce, plain, MAGIC + sha.encode("ascii"))
        return MAGIC + bytes.fromhex(self.key.key_id) + nonce + sealed

    def decrypt(self, blob: bytes, sha: str) -> bytes:
        if len(blob) < _HEADER + 16 or not blob.startswith(MAGIC):
            raise MediaIntegrityError("not a pedpain media file")
        key_id = blob[4:12].hex()
        key = self.keys.get(key_id)
        if key is None:
            raise EnvironmentProblem(
                f"media file {sha[:12]}... is encrypted with key {key_id}, which is not "
                "configured (use the key the media were stored with)"
            )
        try:
            plain = AESGCM(key.key).decrypt(blob[12:24], blob[24:], MAGIC + sha.encode("ascii"))
        except InvalidTag:
            raise MediaIntegrityError("authentication failed (altered or misnamed)") from None
        if sha256_hex(plain) != sha:
            raise MediaIntegrityError("content does not match its address")
        return plain

    @staticmethod
    def key_id_of(path: Path) -> str | None:
        with path.open("rb") as handle:
            head = handle.read(12)
        return head[4:12].hex() if head.startswith(MAGIC) and len(head) == 12 else None

    def read(self, sha: str) -> bytes:
        """The plaintext of a stored file (callers audit the read)."""
        path = self.path_for(sha)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise MediaIntegrityError("missing from the media store") from None
        return self.decrypt(blob, sha)

    # -- writing ----------------------------------------------------------------------
    @property
    def staging(self) -> Path:
        """This process's staging folder (created on first use)."""
        if self._staging is None:
            name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
            self._staging = self.root / STAGING / name
            self._staging.mkdir(parents=True, exist_ok=True)
        return self._staging

    def stage(self, plain: bytes, sha: str) -> Path:
        """Encrypt into the staging folder; :meth:`promote` puts it in place later.

        No temporary name is needed here: the folder is this process's own, and the sweep
        decrypts a leftover before it promotes it, so a torn write is never promoted.
        """
        target = f"{self.staging}/{sha}"
        with open(target, "wb") as handle:
            handle.write(self.encrypt(plain, sha))
        return Path(target)

    def promote(self, staged: Path) -> None:
        """Rename a staged file to its address (after the database committed). An
        existing file of the same address holds the same plaintext: replacing it is
        harmless."""
        sha = staged.name
        folder = f"{self.root}/{sha[:2]}"
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        try:
            os.replace(staged, f"{folder}/{sha}")
        except FileNotFoundError:
            # The same content staged twice (one photo in two sessions of a batch, or
            # twice in one upload): the first promote already put it in place.
            if not os.path.exists(f"{folder}/{sha}"):
                raise

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)

    def put(self, plain: bytes, sha: str) -> Path:
        """Encrypt and store at once (for callers without a database transaction)."""
        staged = self.stage(plain, sha)
        self.promote(staged)
        return self.path_for(sha)

    def rewrite(self, sha: str, plain: bytes) -> None:
        """Replace a stored file by a fresh encryption under the writing key (rotation)."""
        final = self.path_for(sha)
        tmp = final.with_name(final.name + f".{secrets.token_hex(4)}.part")
        tmp.write_bytes(self.encrypt(plain, sha))
        os.replace(tmp, final)

    def delete(self, sha: str) -> bool:
        path = self.path_for(sha)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty
        return True

    def close(self) -> None:
        """Remove this process's staging folder if nothing is left in it."""
        if self._staging is not None:
            with contextlib.suppress(OSError):
                self._staging.rmdir()
            self._staging = None

    # -- housekeeping -----------------------------------------------------------------
    def iter_stored(self) -> Iterator[tuple[str, Path]]:
        return self.iter_stored_at(self.root)

    @staticmethod
    def iter_stored_at(root: Path) -> Iterator[tuple[str, Path]]:
        """(address, path) of every stored file under ``root``, staging excluded."""
        if not root.is_dir():
            return
        for first in sorted(root.iterdir()):
            if first.name == STAGING or not first.is_dir():
                continue
            for path in sorted(first.iterdir()):
                if path.is_file() and _is_address(first.name, path.name):
                    yield path.name, path

    @staticmethod
    def stray_files_at(root: Path) -> list[Path]:
        """Files in the media folder that are neither stored media nor staging."""
        out: list[Path] = []
        if not root.is_dir():
            return out
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(root).parts
            if rel[0] == STAGING:
                continue
            if not (len(rel) == 2 and _is_address(*rel)):
                out.append(path)
        return out

    def sweep_staging(self, referenced: Callable[[str], bool]) -> dict[str, int]:
        """Finish or undo what killed processes left in staging.

        A staged file whose address the database references but whose final file is
        missing was committed and not yet renamed: it is checked and put in place. Every
        other leftover is deleted. Folders of processes still running here are skipped.
        """
        counts = {"promoted": 0, "removed": 0}
        base = self.root / STAGING
        if not base.is_dir():
            return counts
        host = socket.gethostname()
        for folder in sorted(base.iterdir()):
            if folder == self._staging:
                continue
            if _owner_alive(folder.name, host):
                continue
            for path in sorted(folder.iterdir()) if folder.is_dir() else [folder]:
                sha = path.name
                if len(sha) == 64 and referenced(sha) and not self.has(sha):
                    try:
                        self.decrypt(path.read_bytes(), sha)
                    except (MediaIntegrityError, EnvironmentProblem):
                        path.unlink(missing_ok=True)
                        counts["removed"] += 1
                        continue
                    self.promote(path)
                    counts["promoted"] += 1
                else:
                    path.unlink(missing_ok=True)
                    counts["removed"] += 1
            with contextlib.suppress(OSError):
                folder.rmdir()
        return counts


def _is_address(folder: str, name: str) -> bool:
    return (
        len(name) == 64 and all(c in "0123456789abcdef" for c in name) and name.startswith(folder)
    )


def _owner_alive(folder_name: str, host: str) -> bool:
    parts = folder_name.rsplit("-", 2)
    if len(parts) != 3 or parts[0] != host:
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
