"""Research database benchmark (issue 5 targets, SQLite).

1. Import of a 2,500-child cohort's metadata (4 time points, 3 photos + 1 video and 3
   ratings per session; tiny media content): target under 60 s. Baseline measured in the
   same run: the floor of the same work done by hand (plain executemany of the same rows
   into a bare SQLite file, plus hashing, encrypting and writing the same media files).
2. One child's full timeline (subject, consent, sessions, media, ratings, self-reports,
   analgesics) at that size: target under 20 ms (median of 200 random children, with the
   audit entry every read writes). Baseline: one plain SQL join of the same rows.

Prints each time, its ratio to the target (must be <= 1) and to the baseline; exits 1 if a
target is missed. Usage: ``.venv/bin/python benchmarks/bench_db.py [--subjects N]``.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image

TARGET_IMPORT_S = 60.0
TARGET_TIMELINE_MS = 20.0


def tiny_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 90, 80)).save(out, format="JPEG")
    return out.getvalue()


def write_cohort(folder: Path, n: int) -> list[tuple[str, bytes]]:
    """The import layout with n children; returns (path, bytes) of every media file."""
    folder.mkdir(parents=True)
    (folder / "cohort.json").write_text(
        json.dumps({"format": "pedpain-oapc-import", "version": 1, "synthetic": True})
    )
    jpeg = tiny_jpeg()
    rows: dict[str, list[list[object]]] = {k: [] for k in ("sub", "con", "ses", "med", "rat")}
    media: list[tuple[str, bytes]] = []
    rng = random.Random(5)
    base = datetime(2026, 1, 5, 8, 0)
    for i in range(n):
        code = f"BN-{i:05d}"
        start = base + timedelta(hours=i)
        end = start + timedelta(hours=3)
        age = 24 + i % 60  # FLACC fits 2 months to 7 years
        rows["sub"].append(
            [code, "FM"[i % 2], "", age, 39, "experimental", "abdominal", start.isoformat(),
             end.isoformat(), 0, 0, 0, 0, 0, 0, 1]
        )  # fmt: skip
        rows["con"].append([code, "given", (start - timedelta(days=1)).date(), 1, "", "v1", ""])
        for t, (point, hours) in enumerate((("pain", 8), ("unrelieved", 14), ("relieved", 20),
                                            ("no_pain", 40))):  # fmt: skip
            sid = f"{code}-T{t + 1}"
            rows["ses"].append([sid, code, point, (end + timedelta(hours=hours)).isoformat(),
                                hours, "FLACC", rng.randint(0, 10), ""])  # fmt: skip
            for r in range(3):
                rows["rat"].append([sid, f"R0{r + 1}", "nurse", "FLACC", rng.randint(0, 10), 1])
            for k, name in enumerate(("photo_1.jpg", "photo_2.jpg", "photo_3.jpg", "video.mp4")):
                # Unique bytes per file: data after the JPEG end marker is ignored by readers.
                tag = f"{sid}/{name}".encode()
                data = jpeg + tag if k < 3 else b"\x00\x00\x00\x18ftypisom" + tag
                path = f"media/{code}/{sid}/{name}"
                media.append((path, data))
                kind = "photo" if k < 3 else "video"
                digest = hashlib.sha256(data).hexdigest()
                rows["med"].append([sid, kind, path, digest, 8, 8, "", "", "", "bench"])
    for path, data in media:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    headers = {
        "subjects.csv": ("sub", "subject_code,sex,birth_date,age_months,gestational_age_weeks,"
                         "group,surgery_type,surgery_start,surgery_end,neurological_disease,"
                         "muscular_disease,psychiatric_disease,intraop_cardiac_arrest,"
                         "icu_after_surgery,non_cooperative,synthetic"),
        "consents.csv": ("con", "subject_code,event,date,guardian_consent,child_assent,"
                         "consent_version,reason"),
        "sessions.csv": ("ses", "session_id,subject_code,time_point,assessed_at,"
                         "hours_since_surgery,bps_scale,bps_score,latent_pain"),
        "media.csv": ("med", "session_id,kind,path,sha256,width,height,frames,fps,duration_s,"
                      "capture_device"),
        "ratings.csv": ("rat", "session_id,rater_id,rater_role,scale,raw_score,blinded"),
    }  # fmt: skip
    for name, (key, header) in headers.items():
        with (folder / name).open("w", newline="") as handle:
            handle.write(header + "\n")
            csv.writer(handle).writerows(rows[key])
    return media


def floor_baseline(folder: Path, media: list[tuple[str, bytes]], work: Path) -> float:
    """The same rows and files written by hand, without any checks: a lower bound."""
    start = time.perf_counter()
    con = sqlite3.connect(work / "floor.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    for name in ("subjects", "consents", "sessions", "media", "ratings"):
        with (folder / f"{name}.csv").open(newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            con.execute(f"CREATE TABLE {name} ({', '.join(f'c{i}' for i in range(len(header)))})")
            marks = ", ".join("?" for _ in header)
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", reader)
    con.commit()
    aes = AESGCM(os.urandom(32))
    root = work / "floor-media"
    for path, _ in media:
        data = (folder / path).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        target = root / sha[:2] / sha
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(aes.encrypt(os.urandom(12), data, sha.encode()))
    con.close()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pedpain-bench-db-") as tmp:
        work = Path(tmp)
        os.environ["PEDPAIN_HOME"] = str(work / "home")
        os.environ["PEDPAIN_MEDIA_KEY"] = base64.b64encode(os.urandom(32)).decode()
        os.environ.pop("PEDPAIN_DATABASE_URL", None)
        os.environ.pop("PEDPAIN_KEY_FILE", None)
        os.environ["PEDPAIN_NO_PROGRESS"] = "1"
        from pedpain.core.settings import load_settings
        from pedpain.store import import_cohort, open_store, subject_timeline

        t = time.perf_counter()
        media = write_cohort(work / "cohort", args.subjects)
        print(f"cohort written: {args.subjects} children, {len(media)} media files "
              f"({time.perf_counter() - t:.1f} s, not timed)")  # fmt: skip

        floor = floor_baseline(work / "cohort", media, work)
        with open_store(load_settings(), init=True, actor="bench") as store:
            t = time.perf_counter()
            report = import_cohort(store, work / "cohort")
            import_s = time.perf_counter() - t
            assert not report.errors, report.errors[:3]
            assert report.subjects_added == args.subjects

            codes = [f"BN-{i:05d}" for i in random.Random(1).sample(range(args.subjects), 200)]
            subject_timeline(store, codes[0])  # warm caches
            times = []
            for code in codes:
                t = time.perf_counter()
                doc = subject_timeline(store, code)
                times.append((time.perf_counter() - t) * 1000)
                assert len(doc["sessions"]) == 4 and len(doc["sessions"][0]["ratings"]) == 3
            timeline_ms = statistics.median(times)
            p95 = sorted(times)[int(0.95 * len(times)) - 1]
        raw = sqlite3.connect(work / "home" / "pedpain.db")
        raw_times = []
        for code in codes:
            t = time.perf_counter()
            raw.execute(
                "SELECT * FROM subject s JOIN session se ON se.subject_id = s.id "
                "LEFT JOIN media m ON m.session_id = se.id "
                "LEFT JOIN rating r ON r.session_id = se.id WHERE s.code = ?",
                (code,),
            ).fetchall()
            raw_times.append((time.perf_counter() - t) * 1000)
        raw.close()
        raw_ms = statistics.median(raw_times)

    ok = True
    print(f"import: {import_s:.1f} s for {args.subjects} children "
          f"({report.added['sessions']} sessions, {report.added['media']} media, "
          f"{report.added['ratings']} ratings)")  # fmt: skip
    ratio = import_s / TARGET_IMPORT_S
    print(
        f"  target {TARGET_IMPORT_S:.0f} s: ratio {ratio:.2f} ({'ok' if ratio <= 1 else 'MISSED'})"
    )
    print(f"  baseline (same rows/files by hand, no checks) {floor:.1f} s: "
          f"ratio {import_s / floor:.1f}x")  # fmt: skip
    ok &= ratio <= 1
    ratio = timeline_ms / TARGET_TIMELINE_MS
    print(f"timeline: median {timeline_ms:.2f} ms, p95 {p95:.2f} ms (incl. its audit write)")
    verdict = "ok" if ratio <= 1 else "MISSED"
    print(f"  target {TARGET_TIMELINE_MS:.0f} ms: ratio {ratio:.2f} ({verdict})")
    print(f"  baseline (one plain SQL join) {raw_ms:.2f} ms: ratio {timeline_ms / raw_ms:.1f}x")
    ok &= ratio <= 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
