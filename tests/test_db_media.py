"""The media store: encrypted at rest (no plaintext JPEG/MP4 bytes on disk), integrity
check finds missing, altered and orphaned files, key rotation, key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from db_fixtures import DbEnv
from oapc_fixture import CohortSpec
from pedpain.core.errors import EnvironmentProblem
from pedpain.store import MediaKey, MediaStore, import_cohort, write_new_key
from pedpain.store.media import MediaIntegrityError, sha256_hex
from pedpain.store.models import AuditEntry, Media

JPEG_MARKERS = (b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"JFIF", b"Exif")
MP4_MARKERS = (b"ftyp", b"moov", b"mdat")


def plaintext_markers(data: bytes) -> list[bytes]:
    found = [m for m in JPEG_MARKERS + MP4_MARKERS if m in data]
    if data.startswith(b"\xff\xd8\xff"):
        found.append(b"SOI")
    return found


def stored_files(home: Path) -> list[Path]:
    return [p for p in (home / "media").rglob("*") if p.is_file()]


def test_media_on_disk_hold_no_plaintext_jpeg_or_mp4(dbenv: DbEnv, tmp_path: Path) -> None:
    spec = CohortSpec.default(2)
    folder = spec.write(tmp_path / "cohort")
    # The fixture's files really are JPEG and MP4, so the scan would see them.
    assert plaintext_markers((folder / spec.media[0]["path"]).read_bytes())
    assert b"ftyp" in (folder / spec.media[3]["path"]).read_bytes()
    with dbenv.open() as store:
        import_cohort(store, folder)
    files = stored_files(dbenv.home)
    assert len(files) == 32
    for path in files:
        data = path.read_bytes()
        assert plaintext_markers(data) == [], path
        assert data.startswith(b"PPM1")
    # Names are content addresses of the plaintext; reading decrypts and checks them.
    with dbenv.open() as store:
        media = store.media()
        sha = files[0].name
        assert sha256_hex(media.read(sha)) == sha


def test_a_moved_or_edited_file_fails_to_decrypt(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "m", MediaKey(b"k" * 32))
    a, b = b"photo A bytes", b"photo B bytes"
    sa, sb = sha256_hex(a), sha256_hex(b)
    store.put(a, sa)
    store.put(b, sb)
    # Swap the files: the address is bound into the tag.
    blob_a = store.path_for(sa).read_bytes()
    store.path_for(sb).write_bytes(blob_a)
    with pytest.raises(MediaIntegrityError):
        store.read(sb)
    flipped = bytearray(blob_a)
    flipped[-1] ^= 1
    store.path_for(sa).write_bytes(bytes(flipped))
    with pytest.raises(MediaIntegrityError):
        store.read(sa)
    other = MediaStore(tmp_path / "m", MediaKey(b"x" * 32))
    store.put(a, sa + "")  # rewrite A (put keeps an existing file; make sure it's valid)
    with pytest.raises(EnvironmentProblem, match="not configured"):
        other.decrypt(store.encrypt(a, sa), sa)


def test_verify_finds_missing_altered_and_orphaned_files(dbenv: DbEnv, tmp_path: Path, cli) -> None:
    folder = CohortSpec.default(1).write(tmp_path / "cohort")
    assert cli("db", "import", folder).code == 0
    r = cli("db", "verify", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["ok"] and doc["files_expected"] == 16 and doc["checked_content"]

    files = sorted(stored_files(dbenv.home))
    files[0].unlink()  # missing
    data = bytearray(files[1].read_bytes())
    data[40] ^= 0xFF
    files[1].write_bytes(bytes(data))  # altered
    orphan = dbenv.home / "media" / "ff" / ("ffee" + "0" * 60)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"PPM1 something nobody references")
    stray = dbenv.home / "media" / "notes.txt"
    stray.write_text("hello")

    r = cli("db", "verify", "--json")
    assert r.code == 3
    doc = json.loads(r.out)
    assert [m["sha256"] for m in doc["missing"]] == [files[0].name]
    assert [m["sha256"] for m in doc["altered"]] == [files[1].name]
    assert "authentication failed" in doc["altered"][0]["problem"]
    assert sorted(doc["orphaned"]) == sorted([str(orphan), str(stray)])
    assert doc["missing"][0]["items"][0].startswith("FX-0001-T")
    assert "problem(s)" in r.err

    r = cli("db", "verify", "--quick", "--remove-orphans")
    assert r.code == 3  # missing/altered remain; orphans gone
    assert not orphan.exists() and not stray.exists()

    # Re-importing the folder restores the missing file from the source.
    assert cli("db", "import", folder).code == 0
    r = cli("db", "verify", "--json")
    assert [m["sha256"] for m in json.loads(r.out)["missing"]] == []


def test_key_rotation_reencrypts_everything_and_can_be_rerun(
    dbenv: DbEnv, tmp_path: Path, cli, monkeypatch
) -> None:
    folder = CohortSpec.default(1).write(tmp_path / "cohort")
    assert cli("db", "import", folder).code == 0
    old = MediaKey.from_file(dbenv.key_file)
    new_file = tmp_path / "keys" / "new.key"
    r = cli("db", "keygen", "--out", new_file)
    assert r.code == 0 and str(new_file) in r.out
    new = MediaKey.from_file(new_file)
    before = {p.name: p.read_bytes() for p in stored_files(dbenv.home)}

    # A rotation killed half-way: some files already under the new key.
    half = MediaStore(dbenv.home / "media", new, old)
    for sha in list(before)[:5]:
        half.rewrite(sha, half.read(sha))

    r = cli("db", "rotate-key", "--new-key-file", new_file, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["rewritten"] == 11 and doc["already_new"] == 5 and doc["complete"]
    for path in stored_files(dbenv.home):
        assert MediaStore.key_id_of(path) == new.key_id
        assert path.read_bytes() != before[path.name]
    # The old key no longer opens the store; the new one does.
    assert cli("db", "verify").code == 4
    monkeypatch.setenv("PEDPAIN_KEY_FILE", str(new_file))
    assert cli("db", "verify").code == 0
    with dbenv.open() as store, store.session() as db:
        assert "media.rotate_key" in set(db.scalars(select(AuditEntry.action)))
        assert db.scalar(select(Media.id).limit(1)) is not None


def test_keygen_writes_a_private_key_and_never_overwrites(tmp_path: Path, cli) -> None:
    path = tmp_path / "k" / "media.key"
    r = cli("db", "keygen", "--out", path)
    assert r.code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(MediaKey.from_file(path).key) == 32
    r = cli("db", "keygen", "--out", path)
    assert r.code == 2 and "never overwritten" in r.err
    with pytest.raises(Exception, match="already exists"):
        write_new_key(path)


def test_media_key_from_environment_and_bad_keys(tmp_path: Path, cli, monkeypatch) -> None:
    import base64

    from pedpain.core.settings import load_settings
    from pedpain.store import load_media_key

    monkeypatch.setenv("PEDPAIN_MEDIA_KEY", base64.b64encode(b"z" * 32).decode())
    assert load_media_key(load_settings()).key == b"z" * 32
    monkeypatch.setenv("PEDPAIN_MEDIA_KEY", "not base64 at all!")
    with pytest.raises(EnvironmentProblem, match="not base64"):
        load_media_key(load_settings())
    monkeypatch.setenv("PEDPAIN_MEDIA_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(EnvironmentProblem, match="32 bytes"):
        load_media_key(load_settings())
    monkeypatch.delenv("PEDPAIN_MEDIA_KEY")
    monkeypatch.setenv("PEDPAIN_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(EnvironmentProblem, match="not found"):
        load_media_key(load_settings())
