"""Small OAPC-FEI import folders (docs/formats/import_layout.md) for the database tests.

``CohortSpec.default(n)`` builds rows for n eligible children (4 sessions each, 3 photos +
1 video per session, 3 ratings per session); tests edit the rows (add an ineligible child,
break a row) and call ``write(folder)``. Photos are real JPEG bytes (crops of matplotlib's
``grace_hopper.jpg``), videos real MP4 files, each unique so that content addresses differ.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

SUBJECT_FIELDS = [
    "subject_code", "sex", "birth_date", "age_months", "gestational_age_weeks", "group",
    "surgery_type", "surgery_start", "surgery_end", "neurological_disease", "muscular_disease",
    "psychiatric_disease", "intraop_cardiac_arrest", "icu_after_surgery", "non_cooperative",
    "synthetic",
]  # fmt: skip
CONSENT_FIELDS = [
    "subject_code", "event", "date", "guardian_consent", "child_assent", "consent_version",
    "reason",
]  # fmt: skip
SESSION_FIELDS = [
    "session_id", "subject_code", "time_point", "assessed_at", "hours_since_surgery",
    "bps_scale", "bps_score", "latent_pain",
]  # fmt: skip
MEDIA_FIELDS = [
    "session_id", "kind", "path", "sha256", "width", "height", "frames", "fps", "duration_s",
    "capture_device",
]  # fmt: skip
RATING_FIELDS = ["session_id", "rater_id", "rater_role", "scale", "raw_score", "blinded"]
SELF_FIELDS = ["session_id", "scale", "raw_score"]
CLINICAL_FIELDS = ["subject_code", "session_id", "drug", "dose_mg", "route", "given_at"]

TIME_POINTS = (
    ("pain", 8, 6.0),
    ("unrelieved", 12, 7.0),
    ("relieved", 20, 2.5),
    ("no_pain", 40, 0.5),
)


@lru_cache(maxsize=1)
def _face() -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        image = Image.open(handle).convert("RGB")
    return np.asarray(image.resize((128, 160)))


def photo_bytes(seed: int, size: tuple[int, int] = (96, 120)) -> bytes:
    """A real face JPEG, made unique by a seeded crop offset and faint noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    face = _face().astype(np.int16)
    noisy = np.clip(face + rng.integers(-3, 4, face.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(noisy).resize(size)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def video_bytes(seed: int, tmp_dir: Path) -> bytes:
    """A short real MP4 (mp4v) of the face, unique per seed."""
    import cv2

    rng = np.random.default_rng(seed)
    path = tmp_dir / f".clip-{seed}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 80))
    base = cv2.resize(_face(), (64, 80))
    for _ in range(6):
        frame = np.clip(base.astype(np.int16) + rng.integers(-4, 5, base.shape), 0, 255)
        writer.write(cv2.cvtColor(frame.astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    data = path.read_bytes()
    path.unlink()
    return data


@dataclass
class CohortSpec:
    meta: dict[str, Any]
    subjects: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)  # + "_bytes"
    ratings: list[dict[str, Any]] = field(default_factory=list)
    self_reports: list[dict[str, Any]] = field(default_factory=list)
    clinical: list[dict[str, Any]] = field(default_factory=list)
    with_video: bool = True

    @classmethod
    def default(cls, n: int = 3, *, prefix: str = "FX", with_video: bool = True) -> CohortSpec:
        spec = cls(
            meta={
                "format": "pedpain-oapc-import",
                "version": 1,
                "synthetic": True,
                "generator": "tests/oapc_fixture.py",
                "seed": 0,
                "created": "2026-03-01T10:00:00",
                "site": "TEST",
            },
            with_video=with_video,
        )
        for i in range(n):
            # Alternate a toddler (FLACC) and a 9-year-old (OPS, self-report NRS).
            age = 30 if i % 2 == 0 else 108
            spec.add_subject(f"{prefix}-{i + 1:04d}", age_months=age, seed=i)
        return spec

    def add_subject(self, code: str, *, age_months: int = 30, seed: int = 0, **over: Any) -> None:
        start = datetime(2026, 3, 2, 8, 0) + timedelta(days=seed)
        end = start + timedelta(hours=3)
        row = {
            "subject_code": code,
            "sex": "F" if seed % 2 else "M",
            "birth_date": "",
            "age_months": age_months,
            "gestational_age_weeks": 39,
            "group": "experimental",
            "surgery_type": "abdominal",
            "surgery_start": start.isoformat(),
            "surgery_end": end.isoformat(),
            "neurological_disease": 0,
            "muscular_disease": 0,
            "psychiatric_disease": 0,
            "intraop_cardiac_arrest": 0,
            "icu_after_surgery": 0,
            "non_cooperative": 0,
            "synthetic": 1,
        }
        row.update(over)
        self.subjects.append(row)
        self.consents.append(
            {
                "subject_code": code,
                "event": "given",
                "date": (start - timedelta(days=1)).date().isoformat(),
                "guardian_consent": 1,
                "child_assent": 1 if age_months >= 84 else "",
                "consent_version": "v1.0",
                "reason": "",
            }
        )
        scale = "FLACC" if age_months < 96 else "OPS"
        rng = np.random.default_rng(1000 + seed)
        for t, (point, hours, latent) in enumerate(TIME_POINTS):
            sid = f"{code}-T{t + 1}"
            self.sessions.append(
                {
                    "session_id": sid,
                    "subject_code": code,
                    "time_point": point,
                    "assessed_at": (end + timedelta(hours=hours)).isoformat(),
                    "hours_since_surgery": hours,
                    "bps_scale": scale,
                    "bps_score": round(latent),
                    "latent_pain": latent,
                }
            )
            for r, role in enumerate(("nurse", "physician", "anaesthetist")):
                score = int(np.clip(round(latent + rng.normal(0, 0.8) + (r - 1) * 0.3), 0, 10))
                self.ratings.append(
                    {
                        "session_id": sid,
                        "rater_id": f"R0{r + 1}",
                        "rater_role": role,
                        "scale": scale,
                        "raw_score": score,
                        "blinded": 1,
                    }
                )
            if age_months >= 72:
                self.self_reports.append(
                    {"session_id": sid, "scale": "NRS", "raw_score": round(latent)}
                )
            for k in range(3):
                self.media.append(
                    {
                        "session_id": sid,
                        "kind": "photo",
                        "path": f"media/{code}/{sid}/photo_{k + 1}.jpg",
                        "width": 96,
                        "height": 120,
                        "capture_device": "fixture",
                        "_seed": seed * 100 + t * 10 + k,
                    }
                )
            if self.with_video:
                self.media.append(
                    {
                        "session_id": sid,
                        "kind": "video",
                        "path": f"media/{code}/{sid}/video.mp4",
                        "width": 64,
                        "height": 80,
                        "frames": 6,
                        "fps": 25,
                        "duration_s": 0.24,
                        "capture_device": "fixture",
                        "_seed": seed * 100 + t * 10 + 9,
                    }
                )
        self.clinical.append(
            {
                "subject_code": code,
                "session_id": f"{code}-T1",
                "drug": "paracetamol",
                "dose_mg": 15 * 12,
                "route": "iv",
                "given_at": (end + timedelta(hours=7)).isoformat(),
            }
        )

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cohort.json").write_text(json.dumps(self.meta), encoding="utf-8")
        (folder / "SYNTHETIC.txt").write_text("Synthetic test data: no real child.\n")
        media_rows = []
        for m in self.media:
            row = {k: v for k, v in m.items() if not k.startswith("_")}
            path = folder / row["path"]
            if "_bytes" in m:
                data = m["_bytes"]
            elif row["kind"] == "photo":
                data = photo_bytes(m["_seed"])
            else:
                data = video_bytes(m["_seed"], folder)
            if not m.get("_missing"):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            row.setdefault("sha256", hashlib.sha256(data).hexdigest())
            media_rows.append(row)
        tables = (
            ("subjects.csv", SUBJECT_FIELDS, self.subjects),
            ("consents.csv", CONSENT_FIELDS, self.consents),
            ("sessions.csv", SESSION_FIELDS, self.sessions),
            ("media.csv", MEDIA_FIELDS, media_rows),
            ("ratings.csv", RATING_FIELDS, self.ratings),
            ("self_reports.csv", SELF_FIELDS, self.self_reports),
            ("clinical.csv", CLINICAL_FIELDS, self.clinical),
        )
        for name, fields, rows in tables:
            with (folder / name).open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        return folder


def csv_line_of(folder: Path, name: str, needle: str) -> int:
    """The 1-based line of ``name`` whose text contains ``needle`` (for error checks)."""
    for i, line in enumerate((folder / name).read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {name}")
