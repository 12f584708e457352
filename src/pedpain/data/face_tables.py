"""Build the FaceTable an experiment trains on (or a model is evaluated on).

Two kinds of data:
- ``unbc``: a UNBC-McMaster tree; faces aligned with its own landmarks and cached.
- ``faces``: the output folder of ``pedpain preprocess`` (packed faces) joined to a labels
  CSV, one row per input file, with ``subject_id``, ``target`` (0-10) and the path of the
  file as given to preprocess (column ``input`` or ``path``). Optional columns are carried
  into predictions: ``session_id, clip_id, age_months, sex, time_point, group,
  comparator, threshold, synthetic``. Paths match when they point to the same file, or,
  failing that, when their trailing folders and name agree.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from pedpain.core.errors import UsageError
from pedpain.core.logging import get_logger
from pedpain.data.config import DataConfig
from pedpain.data.faces import ArrayFaces, FaceTable

log = get_logger(__name__)

LABEL_ALIASES = {
    "input": ("input", "path", "media_path", "file"),
    "subject_id": ("subject_id", "subject", "subject_code"),
    "target": ("target", "reference", "label", "consensus", "consensus_normalised", "pain"),
}
#: Optional columns under other names (a `pedpain db export` manifest uses these).
OPTIONAL_ALIASES = {
    "comparator": ("comparator", "bps_normalised"),
    "clip_id": ("clip_id", "item_id"),
}
CARRIED = (
    "session_id",
    "clip_id",
    "age_months",
    "sex",
    "time_point",
    "group",
    "comparator",
    "threshold",
    "synthetic",
    "kind",
    "split",
)


def load_face_table(data: DataConfig, workdir: Path) -> FaceTable:
    if data.root is None:
        raise UsageError("data.root is not set")
    if data.kind == "unbc":
        return _unbc_table(data, workdir)
    return _faces_table(data)


def _unbc_table(data: DataConfig, workdir: Path) -> FaceTable:
    from pedpain.data.unbc_faces import build_unbc_faces

    assert data.root is not None
    if data.target != "pspi":
        raise UsageError("UNBC-McMaster data has PSPI targets: set data.target: pspi")
    cache = data.cache or workdir / "unbc-faces"
    faces, rows, meta = build_unbc_faces(
        data.root, cache, size=256, max_frames_per_sequence=data.max_frames_per_clip
    )
    synthetic = (Path(data.root) / "SYNTHETIC.txt").is_file()
    return FaceTable(
        ArrayFaces(faces),
        rows,
        preprocessing={**meta["preprocessing"], "synthetic": synthetic},
        description=f"UNBC-McMaster layout at {data.root} ({len(rows)} faces, "
        f"{rows['subject'].nunique()} subjects{', synthetic phantom' if synthetic else ''})",
    )


def _pick(frame: pd.DataFrame, role: str, path: Path) -> str:
    for name in LABEL_ALIASES[role]:
        if name in frame.columns:
            return name
    raise UsageError(f"{path}: no column for {role} (one of {', '.join(LABEL_ALIASES[role])})")


def _blank(column: pd.Series) -> pd.Series:
    return column.isna() | (column.astype("string").str.strip() == "")


def _pick_input(frame: pd.DataFrame, path: Path) -> str:
    """The first input alias column that names files (an export without media has an
    empty ``path`` column beside its ``file`` names)."""
    present = [n for n in LABEL_ALIASES["input"] if n in frame.columns]
    for name in present:
        if not _blank(frame[name]).all():
            return name
    if present:
        raise UsageError(
            f"{path}: column {present[0]!r} is empty in every row; a manifest exported "
            "without --with-media names no face files (export it with --with-media)"
        )
    return _pick(frame, "input", path)


def read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"labels file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype={"subject_id": str, "subject": str, "subject_code": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"labels file {path} is not a readable CSV: {exc}") from None
    raw_target = frame[_pick(frame, "target", path)]
    unrated = _blank(raw_target)
    if unrated.all():
        raise UsageError(f"{path}: no row has a target (are the sessions rated yet?)")
    if unrated.any():  # e.g. sessions exported before their raters scored them
        log.warning("%s: %d row(s) without a target skipped", path, int(unrated.sum()))
        frame = frame[~unrated].reset_index(drop=True)
        raw_target = raw_target[~unrated].reset_index(drop=True)
    input_col = _pick_input(frame, path)
    no_input = _blank(frame[input_col])
    if no_input.any():
        line = int(no_input.to_numpy().argmax()) + 2
        raise UsageError(f"{path}: row {line} has no {input_col} (the face file it labels)")
    out = pd.DataFrame(
        {
            "input": frame[input_col].astype(str),
            "subject": frame[_pick(frame, "subject_id", path)].astype(str),
            "target": pd.to_numeric(raw_target, errors="coerce"),
        }
    )
    for col, names in OPTIONAL_ALIASES.items():
        found = next((n for n in names if n in frame.columns), None)
        if found is not None:
            out[col] = frame[found]
    for col in CARRIED:
        if col in frame.columns and col not in out:
            out[col] = frame[col]
    if out["target"].isna().any():
        bad = int(out["target"].isna().to_numpy().argmax()) + 2
        raise UsageError(f"{path}: row {bad}'s target is not a number")
    if ((out["target"] < 0) | (out["target"] > 10)).any():
        raise UsageError(f"{path}: targets must be on 0-10")
    base = path.parent
    out["_key"] = [_absolute(p, base) for p in out["input"]]
    return out


def _absolute(text: str, base: Path) -> str:
    p = Path(text)
    return str((p if p.is_absolute() else base / p).resolve())


def _suffix(text: str, n: int) -> tuple[str, ...]:
    return tuple(PurePath(text.replace("\\", "/")).parts[-n:])


def _faces_table(data: DataConfig) -> FaceTable:
    from pedpain.vision.packed import PackedFaces

    assert data.root is not None and data.labels is not None
    try:
        packed = PackedFaces(data.root, valid_only=True)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"{data.root}: {exc} (run 'pedpain preprocess' first)") from None
    labels = read_labels(Path(data.labels))
    index = pd.DataFrame(packed.rows)
    index["face"] = np.arange(len(index))
    roots = [Path(data.root).resolve().parent, Path.cwd()]
    by_abs = {k: i for i, k in enumerate(labels["_key"])}
    match: list[int | None] = []
    depth = _unique_depth(labels["input"].tolist())
    by_suffix = {_suffix(t, depth): i for i, t in enumerate(labels["input"])}
    for text in index["input"]:
        hit = next(
            (by_abs[_absolute(text, r)] for r in roots if _absolute(text, r) in by_abs), None
        )
        if hit is None:
            hit = by_suffix.get(_suffix(text, depth))
        match.append(hit)
    index["label_row"] = match
    joined = index.dropna(subset=["label_row"]).copy()
    if joined.empty:
        raise UsageError(
            f"none of the faces in {data.root} match a row of {data.labels} by input path"
        )
    lab = labels.drop(columns=["input", "_key"]).iloc[joined["label_row"].astype(int).to_numpy()]
    joined = pd.concat(
        [joined.reset_index(drop=True), lab.reset_index(drop=True).add_suffix("_label")], axis=1
    )
    joined = joined.rename(columns={f"{c}_label": c for c in lab.columns if c not in joined})
    rows = pd.DataFrame(
        {
            "face": joined["face"].astype(int).to_numpy(),
            "subject": joined["subject"].astype(str).to_numpy(),
            "clip": joined["input"].to_numpy(),
            "frame": pd.to_numeric(joined["frame_index"], errors="coerce").fillna(0).astype(int),
            "target": joined["target"].astype(float).to_numpy(),
        }
    )
    for col in CARRIED:
        if col in joined.columns:
            rows[col] = joined[col].to_numpy()
    synthetic = bool(
        rows.get("synthetic", pd.Series([0])).astype(str).isin(["1", "True", "true"]).any()
    )
    return FaceTable(
        packed,
        rows.reset_index(drop=True),
        preprocessing={**packed.meta, "synthetic": synthetic},
        description=f"preprocessed faces at {data.root} with labels {data.labels} "
        f"({len(rows)} faces, {rows['subject'].nunique()} subjects)",
    )


def _unique_depth(paths: list[str]) -> int:
    """Fewest trailing path parts that tell every labelled file apart."""
    for n in range(1, 8):
        if len({_suffix(p, n) for p in paths}) == len(paths):
            return n
    return 8
