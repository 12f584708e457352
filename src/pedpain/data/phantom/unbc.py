# ruff: noqa: E501  (the sequence table below keeps one subject per line)
"""A synthetic tree in the UNBC-McMaster Shoulder Pain Archive's licensee layout
(shared/docs/unbc_layout.md): the real subject and sequence names, MATLAB ``save -ascii``
numbers, empty FACS files for frames without action units, 66 AAM points per frame,
sequence-level VAS/OPR/AFF/SEN, and the seven black frames that open ``tv095t2aeunaff``.

The faces are adult phantom identities (the archive's subjects are adults with shoulder
pain); PSPI is computed from the same integer AU intensities written to the FACS files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pedpain import __version__
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_text, sweep_temporaries
from pedpain.data.phantom.confounders import (
    NONE,
    confounder_actions,
    confounder_track,
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
from pedpain.data.phantom.landmarks import to_ibug66
from pedpain.data.phantom.media import MARK, TEMPORARIES, png_bytes, put_bytes, put_text
from pedpain.data.phantom.render import Camera, Pose, Props, make_look, render_frame
from pedpain.data.phantom.video import expression_track

#: The 25 subjects in the archive's own order (find_UNBC.m) and their sequences' suffixes.
SEQUENCES: dict[str, tuple[str, ...]] = {
    "042-ll042": ("t1aaaff", "t1aaunaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiaff", "t1aiunaff", "t2afaff"),
    "043-jh043": ("t1aeaff", "t1afaff", "t2aaaff", "t2aaunaff", "t2aeaff", "t2aeunaff", "t2afaff", "t2afunaff", "t2aiunaff"),
    "047-jl047": ("t1aaaff", "t1aaunaff", "t1afunaff", "t1aiaff", "t1aiunaff", "t2aeunaff", "t2afaff"),
    "048-aa048": ("t2aaunaff", "t2aeaff", "t2aeunaff", "t2afaff", "t2afunaff", "t2aiaff", "t2aiunaff"),
    "049-bm049": ("t1aaaff", "t1afaff", "t2aaaff", "t2aaunaff", "t2aeaff", "t2aeunaff", "t2afaff", "t2afunaff"),
    "052-dr052": ("t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiaff", "t1aiunaff", "t2aaaff", "t2aeaff", "t2aeunaff", "t2aiaff"),
    "059-fn059": ("t2afunaff", "t2aiaff"),
    "064-ak064": ("t1aaaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiaff", "t1aiunaff"),
    "066-mg066": ("t1aaaff", "t1aeaff", "t1afaff", "t1afunaff", "t2aaunaff", "t2aeaff", "t2aeunaff", "t2afaff"),
    "080-bn080": ("t1aaaff", "t1aaunaff", "t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiunaff"),
    "092-ch092": ("t1aiaff", "t2aaaff", "t2aeaff", "t2afaff", "t2aiaff"),
    "095-tv095": ("t1afaff", "t2aeunaff", "t2afaff"),
    "096-bg096": ("t1aaaff", "t1aeaff", "t1aeunaff", "t1afaff", "t2aaaff", "t2aaunaff", "t2aeunaff", "t2afaff", "t2afunaff"),
    "097-gf097": ("t1aaaff", "t1aaunaff", "t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiaff", "t1aiunaff", "t2aaunaff", "t2aeunaff", "t2afaff", "t2afunaff", "t2aiaff", "t2aiunaff"),
    "101-mg101": ("t1aiaff", "t2aaaff", "t2aaunaff", "t2aeaff", "t2aeunaff", "t2afaff", "t2afunaff", "t2aiaff", "t2aiunaff"),
    "103-jk103": tuple(f"t{t}a{m}{s}" for t in (1, 2) for m in "aefi" for s in ("aff", "unaff")),
    "106-nm106": ("t1aaaff", "t1aaunaff", "t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiunaff", "t2aaaff", "t2aaunaff", "t2aeaff", "t2aeunaff", "t2afunaff", "t2aiaff", "t2aiunaff"),
    "107-hs107": ("t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t2aaaff", "t2aaunaff", "t2aeunaff", "t2aiunaff"),
    "108-th108": ("t1aaaff", "t1aaunaff", "t1aeaff", "t1afaff", "t1afunaff", "t1aiaff", "t1aiunaff", "t2aaunaff", "t2aeaff", "t2afaff", "t2afunaff", "t2aiaff", "t2aiunaff"),
    "109-ib109": ("t1aaaff", "t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiaff", "t1aiunaff", "t2aeaff"),
    "115-jy115": ("t1aaaff", "t1aaunaff", "t1aeaff", "t2aaaff", "t2aeaff"),
    "120-kz120": ("t1aaaff", "t1aeaff", "t1afunaff", "t2aaaff", "t2aaunaff", "t2aeaff", "t2aeunaff", "t2afunaff"),
    "121-vw121": ("t1aaaff", "t1aeaff", "t1aiaff"),
    "123-jh123": ("t1aaunaff", "t1aeaff", "t1aeunaff", "t1afaff", "t2aaaff", "t2aeaff"),
    "124-dn124": ("t1aaaff", "t1aaunaff", "t1aeaff", "t1aeunaff", "t1afaff", "t1afunaff", "t1aiaff"),
}  # fmt: skip
BLACK_SUBJECT, BLACK_SEQUENCE, BLACK_FRAMES = "095-tv095", "tv095t2aeunaff", 7
#: Generation order: the black-frame subject first, so every phantom has that case, then
#: the archive's order.
SUBJECT_ORDER = (BLACK_SUBJECT, *(s for s in SEQUENCES if s != BLACK_SUBJECT))
IMAGE_SIZE = (320, 240)
LAYOUTS = ("standard", "doubled", "kaggle")
AAM_STYLES = ("plain", "matlab")
SCALES = {"VAS": 10, "OPR": 5, "AFF": 15, "SEN": 15}


@dataclass(frozen=True)
class UnbcParams:
    subjects: int = 25
    frames_per_sequence: int = 24
    seed: int = 7
    layout: str = "standard"
    aam_style: str = "plain"
    #: Confounder sequences, gated pain actions and detailed skin cues (issue 20).
    confounders: bool = True

    def check(self) -> None:
        if not 1 <= self.subjects <= len(SEQUENCES):
            raise UsageError(f"--subjects must be between 1 and {len(SEQUENCES)}")
        if not 1 <= self.frames_per_sequence <= 999:
            raise UsageError("--frames-per-sequence must be between 1 and 999")
        if self.layout not in LAYOUTS:
            raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}")
        if self.aam_style not in AAM_STYLES:
            raise UsageError(f"--aam-style must be one of {', '.join(AAM_STYLES)}")


def matlab(value: float) -> str:
    """One number as MATLAB ``save -ascii`` writes it: three spaces, then ``%.7e``."""
    return f"   {value:.7e}"


def facs_text(codes: dict[int, int]) -> str:
    """FACS rows ``AU intensity 0 0``; an empty string when no AU is coded."""
    return "".join(
        f"{matlab(au)}{matlab(val)}{matlab(0)}{matlab(0)}\n" for au, val in sorted(codes.items())
    )


def aam_text(points: np.ndarray, style: str = "plain") -> str:
    if style == "matlab":
        return "".join(f"{matlab(x)}{matlab(y)}\n" for x, y in points)
    return "".join(f"{x:.4f} {y:.4f}\n" for x, y in points)


def _tops(layout: str) -> dict[str, Path]:
    twice = layout == "doubled"
    return {
        name: Path(name, name) if twice else Path(name)
        for name in ("Images", "Frame_Labels", "AAM_landmarks", "Sequence_Labels")
    }


def generate_subject(params: UnbcParams, subject: str, root: Path) -> list[dict[str, Any]]:
    """Write one subject's sequences; return the per-frame truth rows."""
    number = int(subject[:3])
    initials = subject[4:9]
    rng = np.random.default_rng([params.seed, number, 11])
    identity = make_identity(
        int(rng.integers(0, 2**31)), age_months=int(rng.integers(300, 800)), adult=True,
        key=f"unbc-{subject}",
    )  # fmt: skip
    offsets = draw_offsets(rng)
    # Own stream, so confounders are independent of pain and the other draws unchanged.
    crng = np.random.default_rng([params.seed, number, 12]) if params.confounders else None
    tops = _tops(params.layout)
    width, height = IMAGE_SIZE
    k = params.frames_per_sequence
    rows: list[dict[str, Any]] = []
    for suffix in SEQUENCES[subject]:
        seq = f"{initials}{suffix}"
        affected = suffix.endswith("aff") and not suffix.endswith("unaff")
        peak = float(rng.uniform(0.35, 1.1) if affected else rng.uniform(0.0, 0.45))
        if rng.uniform() < 0.25:
            peak *= 0.2  # many sequences show (almost) nothing
        env, phase = expression_track(k, max(k / 8.0, 1.0), rng)
        base = Pose(
            roll=float(rng.normal(0, 4)),
            yaw=float(rng.normal(0, 6)),
            pitch=float(rng.normal(0, 3)),
            iod=float(height * rng.uniform(0.2, 0.25)),
            x=float(rng.uniform(0.45, 0.55)),
            y=float(rng.uniform(0.38, 0.44)),
        )
        gates = None
        conf, strength = NONE, 0.0
        conf_env, conf_phase = np.zeros(k), np.zeros(k)
        if crng is not None:
            gates = draw_gates(crng)
            conf, strength = draw_confounder(crng, identity.age_months, rate=0.35)
            # Sequences last a few seconds; the track is laid out at 8 frames per second.
            conf_env, conf_phase = confounder_track(conf, strength, k, max(k / 8.0, 1.0), crng)
        props = Props(pacifier=conf == "pacifier")
        look = make_look(identity, width, height, rng, base, props, detailed=params.confounders)
        camera = Camera(noise=float(rng.uniform(1, 3)), gain=float(rng.uniform(0.9, 1.1)))
        peak_pspi = 0
        for i in range(k):
            n = i + 1
            stem = f"{seq}{n:03d}"
            level = peak * float(env[i])
            pain = actions_for_level(level, offsets if level > 0.05 else None, gates)
            on = conf_env[i] > 0.05
            actions = (
                combine(pain, confounder_actions(conf, float(conf_env[i]), float(conf_phase[i])))
                if on
                else pain
            )
            t = i / max(k - 1, 1)
            pose = Pose(
                roll=base.roll + 5 * np.sin(2 * np.pi * t + number),
                yaw=base.yaw + 6 * np.sin(np.pi * t + number / 3),
                pitch=base.pitch,
                iod=base.iod,
                x=base.x + 0.02 * np.sin(2 * np.pi * t),
                y=base.y,
            )
            frame, truth = render_frame(look, actions, pose, camera, rng)
            mesh: Any = truth.pop("_mesh")
            black = seq == BLACK_SEQUENCE and n <= BLACK_FRAMES
            if black:
                frame = np.zeros_like(frame)
                actions = pain = actions_for_level(0.0)
                on = False
            codes = actions.coded()
            pspi = actions.pspi()
            peak_pspi = max(peak_pspi, pspi)
            pts = to_ibug66(mesh)
            pts[:, 0] = pts[:, 0].clip(0, width - 1)
            pts[:, 1] = pts[:, 1].clip(0, height - 1)
            where = Path(subject, seq)
            put_bytes(root / tops["Images"] / where / f"{stem}.png", png_bytes(frame))
            labels = root / tops["Frame_Labels"]
            put_text(labels / "PSPI" / where / f"{stem}_facs.txt", matlab(pspi) + "\n")
            put_text(labels / "FACS" / where / f"{stem}_facs.txt", facs_text(codes))
            if params.layout != "kaggle":
                put_text(
                    root / tops["AAM_landmarks"] / where / f"{stem}_aam.txt",
                    aam_text(pts, params.aam_style),
                )
            rows.append(
                {
                    "subject": subject,
                    "sequence": seq,
                    "frame": n,
                    "phase": phase[i],
                    "expression_level": round(0.0 if black else level, 4),
                    **{a: actions.as_dict()[a] for a in ACTION_NAMES},
                    "pspi": pspi,
                    "pain_pspi": pain.pspi(),
                    "confounder": conf if on else NONE,
                    "confounder_strength": round(float(conf_env[i]) if on else 0.0, 4),
                    "black": int(black),
                    **{key: val for key, val in truth.items() if key.startswith("pose_")},
                    "synthetic": 1,
                }
            )
        if params.layout != "kaggle":
            values = {
                "VAS": peak * 10 + rng.normal(0, 1.0),
                "OPR": peak * 5 + rng.normal(0, 0.5),
                "AFF": peak * 15 + rng.normal(0, 1.5),
                "SEN": peak * 15 + rng.normal(0, 1.5),
            }
            for scale, value in values.items():
                v = float(np.clip(round(value), 0, SCALES[scale]))
                put_text(
                    root / tops["Sequence_Labels"] / scale / subject / f"{seq}.txt",
                    matlab(v) + "\n",
                )
    return rows


def generate_unbc(
    out: Path, params: UnbcParams, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Write the UNBC-layout phantom to ``out`` (via ``out.partial``, resumable)."""
    from pedpain.data.phantom.oapc import csv_text

    params.check()
    out = Path(out)
    doc = {"kind": "unbc", **asdict(params)}
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            same = json.loads((out / "phantom.json").read_text()).get("params") == doc
        except (OSError, ValueError):
            same = False
        if same:
            return {"out": str(out), "reused": True, **_counts(out)}
        raise UsageError(
            f"{out} exists and is not empty (and is not a phantom made with the same "
            "parameters); choose a new folder"
        )
    work = out.with_name(out.name + ".partial")
    try:
        if work.is_dir():
            saved = work / "params.json"
            if not saved.is_file() or json.loads(saved.read_text()) != doc:
                shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(work, TEMPORARIES, recursive=True)  # a killed run's half files
        atomic_write_text(work / "params.json", json.dumps(doc))
    except PermissionError as exc:
        raise UsageError(f"cannot write to {work.parent}: permission denied") from exc
    except OSError as exc:
        raise UsageError(f"cannot write to {work.parent}: {exc.strerror or exc}") from exc
    subjects = SUBJECT_ORDER[: params.subjects]
    all_rows: list[dict[str, Any]] = []
    for done_count, subject in enumerate(subjects, start=1):
        marker = work / ".done" / f"{subject}.json"
        if marker.is_file():
            rows = json.loads(marker.read_text())
        else:
            rows = generate_subject(params, subject, work)
            atomic_write_text(marker, json.dumps(rows))
        all_rows.extend(rows)
        if progress:
            progress(done_count, len(subjects))
    atomic_write_text(work / "phantom_truth.csv", csv_text(all_rows))
    atomic_write_text(
        work / "SYNTHETIC.txt",
        "SYNTHETIC DATA - pedpain phantom in the UNBC-McMaster licensee layout\n\n"
        "Not the UNBC-McMaster Shoulder Pain Expression Archive and not derived from it: the "
        "faces, action units, PSPI, landmarks and sequence labels here were generated by "
        f"`pedpain phantom unbc` (seed {params.seed}). Only the folder and file naming "
        "follows the archive. phantom_truth.csv holds the generator's per-frame truth.\n",
    )
    atomic_write_text(
        work / "phantom.json",
        json.dumps(
            {
                "synthetic": True,
                "generator": f"pedpain phantom unbc {__version__}",
                "params": doc,
                "note": MARK,
            },
            indent=2,
        )
        + "\n",
    )
    shutil.rmtree(work / ".done")
    (work / "params.json").unlink()
    if out.is_dir():
        out.rmdir()
    work.rename(out)
    return {"out": str(out), "reused": False, **_counts(out)}


def _counts(out: Path) -> dict[str, int]:
    import csv

    with (out / "phantom_truth.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "subjects": len({r["subject"] for r in rows}),
        "sequences": len({r["sequence"] for r in rows}),
        "frames": len(rows),
        "frames_pspi_positive": sum(int(r["pspi"]) > 0 for r in rows),
        "black_frames": sum(int(r["black"]) for r in rows),
    }
