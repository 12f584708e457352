"""The phantom OAPC-FEI cohort, written in pedpain's import layout
(docs/formats/import_layout.md) plus a ``truth/`` folder the import ignores.

Every subject is generated from ``(seed, subject index)`` alone, so a cohort is identical
for a seed, subjects can be generated in parallel, and a killed run resumes subject by
subject: the work goes into ``OUT.partial`` and is renamed to ``OUT`` when complete.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pedpain import __version__
from pedpain.clinical.scales import recommended_scale
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_text, sweep_temporaries
from pedpain.core.logging import get_logger
from pedpain.core.workers import process_pool
from pedpain.data.phantom.confounders import (
    NONE,
    confounder_actions,
    draw_confounder,
)
from pedpain.data.phantom.expression import (
    ACTION_NAMES,
    actions_for_level,
    combine,
    draw_gates,
    draw_offsets,
)
from pedpain.data.phantom.identities import make_identity
from pedpain.data.phantom.media import MARK, TEMPORARIES, write_jpeg
from pedpain.data.phantom.nuisance import jitter_pose, sample_camera, sample_pose, sample_props
from pedpain.data.phantom.render import make_look as _make_look
from pedpain.data.phantom.render import render_frame
from pedpain.data.phantom.video import FPS, SECONDS, VIDEO_SIZE, render_video

log = get_logger(__name__)

FORMAT = "pedpain-oapc-import"
VERSION = 1
TIME_POINTS = ("pain", "relieved", "unrelieved", "no_pain")
PHOTO_SIZES = {"large": (5616, 3744), "small": (768, 512)}
#: Large photos are drawn at a quarter of their size and upsampled (a soft lens, not a
#: problem for a phantom) so that 21-megapixel files stay affordable.
LARGE_RENDER_DIVISOR = 4
VIOLATIONS = ("premature", "neurological", "icu", "age14", "short_surgery", "window")
RATERS = (
    ("R01", "nurse"),
    ("R02", "nurse"),
    ("R03", "physician"),
    ("R04", "anaesthetist"),
    ("R05", "psychologist"),
    ("R06", "nurse"),
)
STUDY_START = datetime(2026, 1, 5, 8, 0, 0)

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "subjects": (
        "subject_code", "sex", "birth_date", "age_months", "gestational_age_weeks", "group",
        "surgery_type", "surgery_start", "surgery_end", "neurological_disease",
        "muscular_disease", "psychiatric_disease", "intraop_cardiac_arrest",
        "icu_after_surgery", "non_cooperative", "synthetic",
    ),
    "consents": (
        "subject_code", "event", "date", "guardian_consent", "child_assent",
        "consent_version", "reason",
    ),
    "sessions": (
        "session_id", "subject_code", "time_point", "assessed_at", "hours_since_surgery",
        "bps_scale", "bps_score", "latent_pain",
    ),
    "media": (
        "session_id", "kind", "path", "sha256", "width", "height", "frames", "fps",
        "duration_s", "capture_device",
    ),
    "ratings": ("session_id", "rater_id", "rater_role", "scale", "raw_score", "blinded"),
    "self_reports": ("session_id", "scale", "raw_score"),
    "clinical": ("subject_code", "session_id", "drug", "dose_mg", "route", "given_at"),
}  # fmt: skip
TRUTH_TABLES = ("subjects", "media", "frames")


@dataclass(frozen=True)
class CohortParams:
    subjects: int = 40
    seed: int = 7
    videos: bool = True
    photo_size: str = "large"
    video_seconds: float = SECONDS
    #: Confounder expressions, pain actions partly decoupled and the detailed skin cues
    #: (issue 20). False renders the earlier phantom: every pain action from one latent.
    confounders: bool = True

    def check(self) -> None:
        if self.subjects <= 0:
            raise UsageError(f"--subjects must be at least 1 (got {self.subjects})")
        if self.subjects > 9999:
            raise UsageError("--subjects can be at most 9999")
        if self.photo_size not in PHOTO_SIZES:
            raise UsageError(f"--photo-size must be one of {', '.join(PHOTO_SIZES)}")
        if not 0.4 <= self.video_seconds <= 60:
            raise UsageError("--video-seconds must be between 0.4 and 60")


def subject_code(index: int) -> str:
    return f"PH-{index + 1:04d}"


def _iso(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def _violation_of(index: int, n: int, rng: np.random.Generator) -> str | None:
    """About one subject in five breaks one rule; small cohorts still get each rule once
    the cohort is big enough (every 4th subject from the 4th, cycling through the rules)."""
    if n >= 8:
        return VIOLATIONS[(index // 4) % len(VIOLATIONS)] if index % 4 == 3 else None
    return str(rng.choice(VIOLATIONS)) if rng.uniform() < 0.2 else None


# ----------------------------------------------------------------------------- one subject


def _plan_subject(params: CohortParams, index: int) -> dict[str, Any]:
    """Everything about one child except the media: demographics, surgery, sessions,
    scores, consents and drugs. Pure function of (seed, index)."""
    rng = np.random.default_rng([params.seed, index, 1])
    code = subject_code(index)
    violation = _violation_of(index, params.subjects, rng)
    control = index % 4 == 1 and violation not in ("icu", "short_surgery", "window")
    age = int(rng.integers(0, 168))
    if violation == "age14":
        age = int(rng.integers(168, 210))
    sex = str(rng.choice(["F", "M"]))
    enrolled = STUDY_START + timedelta(days=int(index * 3 + rng.integers(0, 3)))
    birth = enrolled - timedelta(days=int(age * 30.4375 + rng.integers(0, 28)))
    gestation = round(float(rng.uniform(37.0, 41.5)), 1)
    if violation == "premature":
        gestation = round(float(rng.uniform(28.0, 36.5)), 1)
    subject: dict[str, Any] = {
        "subject_code": code,
        "sex": sex,
        "birth_date": birth.date().isoformat(),
        "age_months": age,
        "gestational_age_weeks": gestation,
        "group": "control" if control else "experimental",
        "surgery_type": "",
        "surgery_start": "",
        "surgery_end": "",
        "neurological_disease": int(violation == "neurological"),
        "muscular_disease": 0,
        "psychiatric_disease": 0,
        "intraop_cardiac_arrest": 0,
        "icu_after_surgery": int(violation == "icu"),
        "non_cooperative": 0,
        "synthetic": 1,
    }
    scale = recommended_scale(age)
    scale_code = scale.code if scale is not None else "NRS"
    scale_max = float(scale.score_max) if scale is not None and scale.score_max else 10.0
    sessions: list[dict[str, Any]] = []
    ratings: list[dict[str, Any]] = []
    self_reports: list[dict[str, Any]] = []
    clinical: list[dict[str, Any]] = []
    plan: list[tuple[str, datetime, datetime | None]]
    if control:
        plan = [("no_pain", enrolled + timedelta(hours=float(rng.uniform(1, 8))), None)]
    else:
        subject["surgery_type"] = str(rng.choice(["abdominal", "orthopaedic"]))
        start = enrolled + timedelta(hours=float(rng.uniform(0, 5)))
        hours = float(rng.uniform(2.2, 5.5))
        if violation == "short_surgery":
            hours = float(rng.uniform(0.8, 1.9))
        end = start + timedelta(hours=hours)
        subject["surgery_start"], subject["surgery_end"] = _iso(start), _iso(end)
        after = {
            "pain": float(rng.uniform(6.5, 12)),
            "unrelieved": float(rng.uniform(16, 28)),
            "no_pain": float(rng.uniform(34, 46)),
        }
        after["relieved"] = after["pain"] + float(rng.uniform(0.75, 1.5))
        if violation == "window":
            after[str(rng.choice(["pain", "no_pain"]))] = float(
                rng.choice([rng.uniform(2, 5.5), rng.uniform(50, 60)])
            )
        plan = [(tp, end + timedelta(hours=after[tp]), end) for tp in TIME_POINTS]
    latent_range = {
        "pain": (5.5, 9.5),
        "relieved": (0.5, 3.0),
        "unrelieved": (5.0, 10.0),
        "no_pain": (0.0, 1.0),
    }
    weight_kg = 3.5 + age * 0.22
    for k, (tp, when, ended) in enumerate(plan, start=1):
        sid = f"{code}-T{k}"
        latent = round(float(rng.uniform(*latent_range[tp])), 2)
        bps = float(np.clip(latent * 0.9 + rng.normal(0, 1.6), 0, 10)) * scale_max / 10
        sessions.append(
            {
                "session_id": sid,
                "subject_code": code,
                "time_point": tp,
                "assessed_at": _iso(when),
                "hours_since_surgery": (
                    round((when - ended).total_seconds() / 3600, 2) if ended is not None else ""
                ),
                "bps_scale": scale_code,
                "bps_score": int(np.rint(bps)),
                "latent_pain": latent,
            }
        )
        for rater_index in rng.choice(len(RATERS), 3, replace=False):
            rid, role = RATERS[int(rater_index)]
            bias = (int(rater_index) - 2.5) * 0.15
            score = np.clip(latent + bias + rng.normal(0, 0.8), 0, 10) * scale_max / 10
            ratings.append(
                {
                    "session_id": sid,
                    "rater_id": rid,
                    "rater_role": role,
                    "scale": scale_code,
                    "raw_score": int(np.rint(float(score))),
                    "blinded": 1,
                }
            )
        if age >= 72:
            own = str(rng.choice(["FPS-R", "NRS", "VAS"] if age >= 96 else ["FPS-R"]))
            raw = float(np.clip(latent + rng.normal(0, 1.2), 0, 10))
            value: float = (
                2 * round(raw / 2) if own == "FPS-R" else round(raw, 1 if own == "VAS" else 0)
            )
            self_reports.append({"session_id": sid, "scale": own, "raw_score": value})
        if tp in ("relieved", "unrelieved"):
            drug, per_kg, route = (
                ("paracetamol", 15.0, "iv") if tp == "relieved" else ("morphine", 0.1, "iv")
            )
            clinical.append(
                {
                    "subject_code": code,
                    "session_id": sid,
                    "drug": drug,
                    "dose_mg": round(per_kg * weight_kg, 1),
                    "route": route,
                    "given_at": _iso(when - timedelta(minutes=float(rng.uniform(30, 60)))),
                }
            )
    if not control and rng.uniform() < 0.5:
        clinical.append(
            {
                "subject_code": code,
                "session_id": "",
                "drug": "ibuprofen",
                "dose_mg": round(10.0 * weight_kg, 1),
                "route": "oral",
                "given_at": _iso(
                    datetime.fromisoformat(sessions[-1]["assessed_at"]) + timedelta(hours=2)
                ),
            }
        )
    consents = [
        {
            "subject_code": code,
            "event": "given",
            "date": (enrolled - timedelta(days=1)).date().isoformat(),
            "guardian_consent": 1,
            "child_assent": (1 if rng.uniform() < 0.95 else 0) if age >= 84 else "",
            "consent_version": "v1.2",
            "reason": "",
        }
    ]
    if params.subjects >= 5 and index == params.subjects - 2:
        consents.append(
            {
                "subject_code": code,
                "event": "withdrawn",
                "date": (datetime.fromisoformat(sessions[-1]["assessed_at"]) + timedelta(days=3))
                .date()
                .isoformat(),
                "guardian_consent": "",
                "child_assent": "",
                "consent_version": "v1.2",
                "reason": "family withdrew from the study (synthetic example)",
            }
        )
    return {
        "code": code,
        "violation": violation,
        "subject": subject,
        "sessions": sessions,
        "ratings": ratings,
        "self_reports": self_reports,
        "clinical": clinical,
        "consents": consents,
    }


@lru_cache(maxsize=8)
def _adult_identity(seed: int, which: int) -> Any:
    return make_identity(int(seed) * 1000 + 900 + which, age_months=480, adult=True)


def generate_subject(params: CohortParams, index: int, root: Path) -> dict[str, Any]:
    """Write one subject's media under ``root`` and return all its table rows."""
    plan = _plan_subject(params, index)
    rng = np.random.default_rng([params.seed, index, 2])
    subject = plan["subject"]
    age = int(subject["age_months"])
    identity = make_identity(
        int(np.random.default_rng([params.seed, index, 3]).integers(0, 2**31)),
        age_months=age,
        sex=subject["sex"],
        key=f"{plan['code']}-face",
    )
    experimental = subject["group"] == "experimental"
    offsets = draw_offsets(rng)
    # Confounders and gates come from their own stream: independent of pain by design, and
    # the other draws (pose, camera, props) stay those of the pain-only phantom.
    crng = np.random.default_rng([params.seed, index, 5]) if params.confounders else None
    out_w, out_h = PHOTO_SIZES[params.photo_size]
    div = LARGE_RENDER_DIVISOR if params.photo_size == "large" else 1
    media_rows: list[dict[str, Any]] = []
    truth_media: list[dict[str, Any]] = []
    truth_frames: list[dict[str, Any]] = []
    for session in plan["sessions"]:
        sid = session["session_id"]
        level = float(np.clip(session["latent_pain"] / 10 * identity.expressiveness, 0, 1.2))
        props = sample_props(rng, age, experimental)
        adult = _adult_identity(params.seed, int(rng.integers(0, 3))) if props.second_face else None
        base_pose = sample_pose(rng, out_h // div)
        look = _make_look(
            identity, out_w // div, out_h // div, rng, base_pose, props, adult=adult,
            detailed=params.confounders,
        )  # fmt: skip
        for k in range(1, 4):
            # The same bedside, a moment apart: the head moves a little between photos.
            pose = jitter_pose(base_pose, rng)
            pose.yaw *= 0.6  # frontal photos, as the protocol asks
            photo_level = level * float(rng.uniform(0.85, 1.1))
            camera = sample_camera(rng)
            if crng is not None:
                pain = actions_for_level(photo_level, offsets, draw_gates(crng))
                conf, strength = draw_confounder(crng, age)
                phase = float(crng.uniform(0, 2 * np.pi))
                actions = combine(pain, confounder_actions(conf, strength, phase))
            else:
                pain = actions = actions_for_level(photo_level, offsets)
                conf, strength = NONE, 0.0
            frame_look = _with_pacifier(look) if conf == "pacifier" else look
            frame, truth = render_frame(
                frame_look, actions, pose, camera, rng, output_size=(out_w, out_h)
            )
            rel = f"media/{plan['code']}/{sid}/photo_{k}.jpg"
            digest = write_jpeg(root / rel, frame, camera.jpeg_quality)
            media_rows.append(
                {
                    "session_id": sid,
                    "kind": "photo",
                    "path": rel,
                    "sha256": digest,
                    "width": out_w,
                    "height": out_h,
                    "frames": "",
                    "fps": "",
                    "duration_s": "",
                    "capture_device": "phantom-renderer",
                }
            )
            mesh: Any = truth.pop("_mesh")
            eyes = _eye_truth(mesh)
            truth_media.append(
                {
                    "session_id": sid,
                    "path": rel,
                    "kind": "photo",
                    "latent_pain": session["latent_pain"],
                    "expression_level": round(photo_level, 4),
                    **{k2: actions.as_dict()[k2] for k2 in ACTION_NAMES},
                    "pspi": actions.pspi(),
                    "pain_pspi": pain.pspi(),
                    "confounder": conf,
                    "confounder_strength": round(strength, 4),
                    **truth,
                    **eyes,
                    "synthetic": 1,
                }
            )
        if params.videos:
            rel = f"media/{plan['code']}/{sid}/video.mp4"
            vpose = sample_pose(rng, VIDEO_SIZE[1])
            vlook = _make_look(
                identity, VIDEO_SIZE[0], VIDEO_SIZE[1], rng, vpose, props, adult=adult,
                detailed=params.confounders,
            )  # fmt: skip
            rows = render_video(
                vlook,
                vpose,
                sample_camera(rng, video=True),
                level,
                offsets,
                rng,
                root / rel,
                seconds=params.video_seconds,
                confounder_rng=crng,
            )
            from pedpain.data.phantom.media import sha256_file

            media_rows.append(
                {
                    "session_id": sid,
                    "kind": "video",
                    "path": rel,
                    "sha256": sha256_file(root / rel),
                    "width": VIDEO_SIZE[0],
                    "height": VIDEO_SIZE[1],
                    "frames": len(rows),
                    "fps": FPS,
                    "duration_s": round(len(rows) / FPS, 3),
                    "capture_device": "phantom-renderer",
                }
            )
            truth_media.append(
                {
                    "session_id": sid,
                    "path": rel,
                    "kind": "video",
                    "latent_pain": session["latent_pain"],
                    "expression_level": round(level, 4),
                    "synthetic": 1,
                }
            )
            for row in rows:
                truth_frames.append({"session_id": sid, "path": rel, **row, "synthetic": 1})
    truth_subject = {
        "subject_code": plan["code"],
        "eligible": int(plan["violation"] is None),
        "violation": plan["violation"] or "",
        "expressiveness": round(identity.expressiveness, 4),
        **{k: v for k, v in identity.describe().items() if k != "adult"},
        "synthetic": 1,
    }
    truth_subject["skin_rgb"] = " ".join(str(v) for v in identity.skin_rgb)
    return {
        "subjects": [plan["subject"]],
        "consents": plan["consents"],
        "sessions": plan["sessions"],
        "media": media_rows,
        "ratings": plan["ratings"],
        "self_reports": plan["self_reports"],
        "clinical": plan["clinical"],
        "truth_subjects": [truth_subject],
        "truth_media": truth_media,
        "truth_frames": truth_frames,
    }


def _with_pacifier(look: Any) -> Any:
    """The same look with a pacifier in the mouth (the sucking confounder)."""
    from dataclasses import replace

    return replace(look, props=replace(look.props, pacifier=True))


def _eye_truth(mesh: np.ndarray) -> dict[str, float]:
    from pedpain.data.phantom.landmarks import eye_centres

    a, b = eye_centres(mesh)
    return {
        "eye_a_x": round(float(a[0]), 2),
        "eye_a_y": round(float(a[1]), 2),
        "eye_b_x": round(float(b[0]), 2),
        "eye_b_y": round(float(b[1]), 2),
    }


# ----------------------------------------------------------------------------- the cohort


def csv_text(rows: list[dict[str, Any]], columns: tuple[str, ...] | None = None) -> str:
    buf = io.StringIO()
    if columns is None:
        columns = tuple(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), lineterminator="\n", extrasaction="raise"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    return buf.getvalue()


def _params_doc(params: CohortParams) -> dict[str, Any]:
    return {"kind": "oapc", **asdict(params)}


def _is_same_phantom(folder: Path, params: CohortParams) -> bool:
    try:
        doc = json.loads((folder / "cohort.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return doc.get("synthetic") is True and doc.get("params") == _params_doc(params)


def _run(index: int, params: CohortParams, work: str) -> int:
    """Worker: generate one subject unless its rows are already saved."""
    root = Path(work)
    done = root / ".done" / f"{subject_code(index)}.json"
    if done.is_file():
        return index
    rows = generate_subject(params, index, root)
    atomic_write_text(done, json.dumps(rows, default=_json_default))
    return index


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def generate_cohort(
    out: Path,
    params: CohortParams,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the phantom cohort to ``out`` (atomically, resumably); return a summary."""
    params.check()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if _is_same_phantom(out, params):
            return {**_summary(out), "reused": True}
        raise UsageError(
            f"{out} exists and is not empty (and is not a phantom made with the same "
            "parameters); choose a new folder"
        )
    work = out.with_name(out.name + ".partial")
    try:
        if work.is_dir():
            saved = work / "params.json"
            previous = json.loads(saved.read_text()) if saved.is_file() else None
            if previous != _params_doc(params):
                shutil.rmtree(work)  # ours, but for other parameters: start again
        work.mkdir(parents=True, exist_ok=True)
        # Half-written files of a killed run (photos, label files, clips) never reach the
        # finished cohort: the subjects they belonged to are redone from scratch.
        sweep_temporaries(work, TEMPORARIES, recursive=True)
        atomic_write_text(work / "params.json", json.dumps(_params_doc(params), indent=2))
    except PermissionError as exc:
        raise UsageError(f"cannot write to {work.parent}: permission denied") from exc
    except OSError as exc:
        raise UsageError(f"cannot write to {work.parent}: {exc.strerror or exc}") from exc

    indices = list(range(params.subjects))
    finished = 0
    if workers > 1 and len(indices) > 1:
        with process_pool(workers) as pool:
            for _ in pool.map(_run, indices, [params] * len(indices), [str(work)] * len(indices)):
                finished += 1
                if progress:
                    progress(finished, len(indices))
    else:
        for index in indices:
            _run(index, params, str(work))
            finished += 1
            if progress:
                progress(finished, len(indices))

    tables: dict[str, list[dict[str, Any]]] = {}
    for index in indices:
        rows = json.loads((work / ".done" / f"{subject_code(index)}.json").read_text())
        for name, items in rows.items():
            tables.setdefault(name, []).extend(items)
    for name, columns in TABLE_COLUMNS.items():
        atomic_write_text(work / f"{name}.csv", csv_text(tables.get(name, []), columns))
    for name in TRUTH_TABLES:
        atomic_write_text(work / "truth" / f"{name}.csv", csv_text(tables.get(f"truth_{name}", [])))
    atomic_write_text(work / "SYNTHETIC.txt", _synthetic_text(params))
    cohort = {
        "format": FORMAT,
        "version": VERSION,
        "synthetic": True,
        "generator": f"pedpain phantom oapc {__version__}",
        "seed": params.seed,
        # Nominal, derived from the seed, so that a cohort is byte-identical for a seed.
        "created": _iso(STUDY_START + timedelta(days=3 * params.subjects + 60)),
        "site": "PHANTOM",
        "params": _params_doc(params),
        "note": MARK,
    }
    atomic_write_text(work / "cohort.json", json.dumps(cohort, indent=2) + "\n")
    shutil.rmtree(work / ".done")
    (work / "params.json").unlink()
    if out.is_dir():
        out.rmdir()  # empty, checked above
    work.rename(out)
    return {**_summary(out), "reused": False}


def _synthetic_text(params: CohortParams) -> str:
    return (
        "SYNTHETIC DATA - pedpain phantom OAPC-FEI cohort\n\n"
        "Every face, child, score and date in this folder was generated by "
        f"`pedpain phantom oapc` (seed {params.seed}, {params.subjects} subjects). No real "
        "person is shown or described. The faces are built from two public sample photographs "
        "shipped with matplotlib and scikit-image, warped and repainted.\n"
        "truth/ holds the generator's ground truth (latent pain, action units, the "
        "confounder expression and the PSPI of the pain expression alone, pose, occluders "
        "per photo and video frame); pedpain db import ignores it.\n"
        "pedpain is research software, not a medical device.\n"
    )


def _summary(out: Path) -> dict[str, Any]:
    def count(name: str) -> int:
        path = out / f"{name}.csv"
        if not path.is_file():
            return 0
        return max(0, len(path.read_text(encoding="utf-8").splitlines()) - 1)

    return {
        "out": str(out),
        "subjects": count("subjects"),
        "sessions": count("sessions"),
        "media": count("media"),
        "ratings": count("ratings"),
        "synthetic": True,
    }
