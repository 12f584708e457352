"""Files to outputs: ``preprocess_file`` (one file, the unit a worker or a Ray task runs)
and ``run_preprocess`` (many files, local process pool or Ray, resumable).

Layout of the output folder DIR (contract: items.csv, frames.csv, face images)::

    items.csv, frames.csv        the contract's tables (frames.csv: extra quality columns
                                 after the contract's columns)
    faces/<key>/<frame>.jpg      aligned faces (key = content hash + parameters)
    packed/                      the training form (docs/formats/packed_faces.md)
    preprocess.json              every parameter, versions and the run's summary
    .parts/<key>.json|.npy       per-file results: the resume cache (a file whose part
                                 exists is not processed again)
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pedpain import DISCLAIMER, __version__
from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.files import ATOMIC_TEMPORARY, atomic_write, atomic_write_text, sweep_temporaries
from pedpain.core.logging import get_logger
from pedpain.core.workers import process_pool
from pedpain.vision.config import PreprocessConfig
from pedpain.vision.packed import PackSource, write_packed
from pedpain.vision.processor import FaceProcessor, FaceResult
from pedpain.vision.reading import (
    MEDIA_EXTENSIONS,
    MediaRejected,
    read_image,
    sniff_kind,
)
from pedpain.vision.video import process_video

log = get_logger(__name__)

ITEM_COLUMNS = (
    "input",
    "kind",
    "status",
    "message",
    "frames_in",
    "fps_in",
    "frames_out",
    "valid_frames",
    "duration_out_s",
)
CONTRACT_FRAME_COLUMNS = (
    "input",
    "frame_index",
    "time_s",
    "path",
    "valid",
    "reason",
    "face_x",
    "face_y",
    "face_w",
    "face_h",
    "face_score",
    "roll_deg",
)
# Appended after the contract's columns (the contract allows additions, not changes).
QUALITY_COLUMNS = (
    "source_frame",
    "yaw_deg",
    "pitch_deg",
    "iod_px",
    "sharpness",
    "brightness",
    "contrast",
    "landmark_conf",
    "faces_in_frame",
    "tracked",
)
FRAME_COLUMNS = CONTRACT_FRAME_COLUMNS + QUALITY_COLUMNS
OK_STATUSES = ("ok", "multiple_faces")
REJECTED_STATUSES = ("no_face", "low_quality", "unreadable", "too_large", "unsupported")
PARTS = ".parts"


# --------------------------------------------------------------------------- inputs
def collect_inputs(
    inputs: Sequence[str | os.PathLike[str]], exclude: Path | None = None
) -> list[Path]:
    """Files named directly (whatever their extension: the content decides) and media
    files found recursively in folders (by extension, hidden files skipped, nothing
    under ``exclude``, the output folder), in order, without duplicates. A path that
    does not exist is a usage error."""
    files: list[Path] = []
    seen: set[Path] = set()
    skip = exclude.resolve() if exclude is not None else None
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in MEDIA_EXTENSIONS
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and (skip is None or not f.resolve().is_relative_to(skip))
            )
        elif p.is_file():
            found = [p]
        else:
            raise UsageError(f"input not found: {p}")
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    if not files:
        raise UsageError("no photos or videos found in the inputs")
    return files


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def item_key(path: Path, config: PreprocessConfig) -> str:
    """Same content and same parameters -> same key -> processed once."""
    text = content_hash(path) + config.fingerprint()
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# -------------------------------------------------------------------- one file
_PROCESSORS: dict[str, FaceProcessor] = {}


def _processor(config: PreprocessConfig) -> FaceProcessor:
    """One processor per worker process and parameter set (MediaPipe graphs are reused)."""
    key = config.fingerprint()
    proc = _PROCESSORS.get(key)
    if proc is None:
        proc = FaceProcessor(config)
        _PROCESSORS[key] = proc
    return proc


def _fmt(value: Any, digits: int = 3) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, digits)
    return value


def _frame_row(
    source: str,
    frame_index: int,
    time_s: float,
    path: str,
    face: FaceResult,
    source_frame: int,
) -> dict[str, Any]:
    box = face.box or (math.nan,) * 4
    return {
        "input": source,
        "frame_index": frame_index,
        "time_s": round(time_s, 4),
        "path": path,
        "valid": int(face.valid),
        "reason": face.reason,
        "face_x": _fmt(box[0], 1),
        "face_y": _fmt(box[1], 1),
        "face_w": _fmt(box[2], 1),
        "face_h": _fmt(box[3], 1),
        "face_score": _fmt(face.score),
        "roll_deg": _fmt(face.roll_deg, 2),
        "source_frame": source_frame,
        "yaw_deg": _fmt(face.yaw_deg, 2),
        "pitch_deg": _fmt(face.pitch_deg, 2),
        "iod_px": _fmt(face.iod_px, 1),
        "sharpness": _fmt(face.sharpness, 1),
        "brightness": _fmt(face.brightness, 1),
        "contrast": _fmt(face.contrast, 1),
        "landmark_conf": _fmt(face.landmark_conf),
        "faces_in_frame": face.faces_in_frame,
        "tracked": int(face.tracked),
    }


def _encode(image: np.ndarray, config: PreprocessConfig) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if config.image_format == "png":
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    if not ok:
        raise RuntimeError("image encoding failed")
    return data.tobytes()


def _write_image(path: Path, data: bytes) -> None:
    """Temporary name + rename, without fsync: a killed run never leaves a half image
    under the final name, and the item's part file (written with fsync, last) is what
    marks the item done. Hundreds of fsyncs per clip would cost more than the faces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _item_row(source: str, kind: str, status: str, message: str, **values: Any) -> dict[str, Any]:
    row = {c: "" for c in ITEM_COLUMNS}
    row.update(input=source, kind=kind, status=status, message=message)
    row.update({k: _fmt(v) for k, v in values.items()})
    return row


def _status_of(faces: Sequence[FaceResult], config: PreprocessConfig) -> tuple[str, str]:
    """Item status and message from its kept frames' faces."""
    n = len(faces)
    valid = sum(f.valid for f in faces)
    if not any(f.found for f in faces):
        return "no_face", "no face found"
    if valid == 0 or valid < config.min_valid_fraction * n:
        reasons: dict[str, int] = {}
        for f in faces:
            if not f.valid:
                reasons[f.reason] = reasons.get(f.reason, 0) + 1
        detail = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        what = "face" if n == 1 else f"{valid} valid of {n} frames"
        return "low_quality", f"unusable {what} ({detail})"
    most = max((f.faces_in_frame for f in faces if f.valid), default=0)
    if most > 1:
        return "multiple_faces", (
            f"{most} faces in view; kept one by the '{config.face_policy}' policy, check it"
        )
    return "ok", ""


def preprocess_file(
    path: str | os.PathLike[str], out_dir: str | os.PathLike[str], config: PreprocessConfig
) -> dict[str, Any]:
    """Process one photo or video into ``out_dir`` and return its outcome as a JSON-able
    dict: ``{"key", "item": items.csv row, "frames": [frames.csv rows], "faces": npy path
    relative to out_dir or None, "reused": bool, "seconds"}``.

    Never raises for a bad input (the item gets a rejection status). Reuses a previous
    outcome for the same content and parameters.
    """
    t0 = time.perf_counter()
    src = Path(path)
    out = Path(out_dir)
    source = str(path)
    try:
        key = item_key(src, config)
    except OSError as exc:
        row = _item_row(source, "", "unreadable", f"cannot read file: {exc.strerror or exc}")
        return {"key": None, "item": row, "frames": [], "faces": None, "reused": False}
    part = out / PARTS / f"{key}.json"
    if part.is_file():
        try:
            doc = json.loads(part.read_text(encoding="utf-8"))
            doc["item"]["input"] = source
            for row in doc["frames"]:
                row["input"] = source
            doc["reused"] = True
            return doc
        except (ValueError, KeyError):
            pass  # an unreadable part is redone
    try:
        doc = _process(src, source, out, key, config)
    except MediaRejected as exc:
        kind = ""
        with contextlib.suppress(MediaRejected):
            kind = sniff_kind(src).kind
        doc = {
            "item": _item_row(source, kind, exc.status, exc.message),
            "frames": [],
            "faces": None,
        }
    except Exception as exc:  # a bug must not stop the batch; it is reported per item
        log.error("processing failed", extra={"input": source, "error": repr(exc)})
        log.debug(traceback.format_exc())
        doc = {
            "item": _item_row(
                source, "", "unreadable", f"processing failed ({type(exc).__name__}: {exc})"
            ),
            "frames": [],
            "faces": None,
            "failed": True,
        }
        doc.update(key=key, reused=False, seconds=round(time.perf_counter() - t0, 3))
        return doc  # not cached: a rerun tries again
    doc.update(key=key, reused=False, seconds=round(time.perf_counter() - t0, 3))
    atomic_write_text(part, json.dumps(doc, ensure_ascii=False))
    return doc


def _process(
    src: Path, source: str, out: Path, key: str, config: PreprocessConfig
) -> dict[str, Any]:
    kind = sniff_kind(src).kind
    processor = _processor(config)
    faces_dir = out / "faces" / key
    ext = config.image_format
    if kind == "image":
        rgb = read_image(src, config.max_megapixels, config.max_side)
        face = processor.process_image(rgb)
        del rgb
        entries = [(0, 0, 0.0, face)]
        frames_in, fps_in, duration = 1, None, None
    else:
        outcome = process_video(src, config, processor)
        start = round(outcome.window_start_s * config.fps)
        entries = [
            (f.output_index - start, f.source_index, f.output_index / config.fps, f.face)
            for f in outcome.frames
        ]
        frames_in, fps_in = outcome.frames_in, round(outcome.info.fps, 3)
        duration = len(entries) / config.fps
    rows: list[dict[str, Any]] = []
    arrays: list[np.ndarray] = []
    encoded: dict[int, str] = {}  # id(face) -> path: a repeated frame is written once
    for frame_index, source_frame, time_s, face in entries:
        rel = ""
        if face.image is not None:
            rel = encoded.get(id(face), "")
            if not rel:
                rel = f"faces/{key}/{frame_index:06d}.{ext}"
                _write_image(out / rel, _encode(face.image, config))
                encoded[id(face)] = rel
            arrays.append(face.image)
        rows.append(_frame_row(source, frame_index, time_s, rel, face, source_frame))
    faces_rel = None
    if arrays:
        faces_rel = f"{PARTS}/{key}.npy"
        with atomic_write(out / faces_rel, "wb") as handle:
            _save_stacked(handle, arrays)
    kept = [e[3] for e in entries]
    status, message = _status_of(kept, config)
    item = _item_row(
        source,
        kind,
        status,
        message,
        frames_in=frames_in,
        fps_in=fps_in,
        frames_out=len(rows),
        valid_frames=sum(f.valid for f in kept),
        duration_out_s=duration,
    )
    if faces_dir.exists() and not arrays:
        shutil.rmtree(faces_dir, ignore_errors=True)
    return {"item": item, "frames": rows, "faces": faces_rel}


def _save_stacked(handle: Any, arrays: Sequence[np.ndarray]) -> None:
    """``np.save(handle, np.stack(arrays))`` without building the stacked copy: the
    .npy header, then each equally shaped uint8 face in turn."""
    first = arrays[0]
    header = {
        "descr": np.lib.format.dtype_to_descr(first.dtype),
        "fortran_order": False,
        "shape": (len(arrays), *first.shape),
    }
    np.lib.format.write_array_header_1_0(handle, header)
    for array in arrays:
        if array.shape != first.shape or array.dtype != first.dtype:
            raise ValueError("faces of one item must share shape and type")
        handle.write(np.ascontiguousarray(array).data)


# ------------------------------------------------------------------ many files
def _worker_init() -> None:
    # One OpenCV thread per worker: the pool already fills the cores.
    cv2.setNumThreads(1)
    os.environ.setdefault("PEDPAIN_NO_PROGRESS", "1")


def _worker(path: str, out_dir: str, config: dict[str, Any]) -> dict[str, Any]:
    return preprocess_file(path, out_dir, PreprocessConfig.from_dict(config))


def _run_local(
    files: Sequence[Path], out: Path, config: PreprocessConfig, workers: int
) -> Generator[tuple[int, dict[str, Any]], None, None]:
    if workers <= 1 or len(files) == 1:
        for i, f in enumerate(files):
            yield i, preprocess_file(f, out, config)
        return
    # Spawned (MediaPipe graphs do not survive fork); the workers die with this process
    # and a Ctrl-C here ends them at once (pedpain.core.workers).
    with process_pool(min(workers, len(files)), initializer=_worker_init) as pool:
        with _main_not_reimported():  # workers are started by the first submits
            futures = {
                pool.submit(_worker, str(f), str(out), config.to_dict()): i
                for i, f in enumerate(files)
            }
        for future in cf.as_completed(futures):
            yield futures[future], future.result()


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """Start spawned workers without re-running the parent's ``__main__`` script.

    A spawned child imports the parent's main script so that functions defined there
    can be unpickled. The worker function lives here, not there, and when the parent is
    the ``pedpain`` command that import is the whole CLI (every command module, with
    SQLAlchemy, Typer and Rich): about 0.8 s per worker before the first frame, on a
    machine whose two cores are the pool."""
    main = sys.modules.get("__main__")
    saved = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    try:
        for k in saved:
            if k == "__file__":
                delattr(main, k)
            else:
                setattr(main, k, None)
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


def _run_ray(
    files: Sequence[Path], out: Path, config: PreprocessConfig, workers: int
) -> Generator[tuple[int, dict[str, Any]], None, None]:
    try:
        import ray
    except ImportError:
        raise EnvironmentProblem("--engine ray needs Ray: pip install 'pedpain[ray]'") from None
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            options["address"] = address
        else:
            options["num_cpus"] = workers
        ray.init(**options)
    task = ray.remote(num_cpus=1)(_worker)
    refs = {
        task.remote(str(f.resolve()), str(out.resolve()), config.to_dict()): i
        for i, f in enumerate(files)
    }
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                doc = ray.get(ref)
                i = refs[ref]
                # Ray tasks saw absolute paths; report the input as the user gave it.
                doc["item"]["input"] = str(files[i])
                for row in doc["frames"]:
                    row["input"] = str(files[i])
                yield i, doc
    except BaseException:
        # Ctrl-C or an error: what is queued or running is cancelled, not left to finish.
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()  # a Ray we started for this run ends with it


def _clean_leftovers(out: Path) -> None:
    """Remove temporary files a killed run may have left (never final names): the atomic
    writers' ``.<name>.<random>.tmp``, this module's ``.<name>.<pid>.tmp`` and the pack's
    ``.packed-build-*`` folders."""
    for folder in (out, out / PARTS):
        sweep_temporaries(folder, (ATOMIC_TEMPORARY, ".packed-*"))
    faces = out / "faces"
    if faces.is_dir():
        for item in faces.iterdir():
            sweep_temporaries(item, (ATOMIC_TEMPORARY,))


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def run_preprocess(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: PreprocessConfig | None = None,
    workers: int = 1,
    engine: str = "local",
    shard_size: int = 1024,
    progress: Callable[[Iterable[Any], str, int], Iterable[Any]] | None = None,
) -> dict[str, Any]:
    """Preprocess every input into ``out_dir`` and write the tables, the pack and
    preprocess.json. Returns the summary ``{"items", "ok", "rejected", "frames_out",
    "seconds", ...}``. Files already done (same content and parameters) are reused."""
    t0 = time.perf_counter()
    config = config or PreprocessConfig()
    out = Path(out_dir)
    files = collect_inputs(inputs, exclude=out)
    try:
        (out / PARTS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    _clean_leftovers(out)
    if config.detector == "mediapipe":
        from pedpain.vision.tflite import check_face_models

        check_face_models()
    if engine == "ray":
        stream = _run_ray(files, out, config, workers)
    elif engine == "local":
        stream = _run_local(files, out, config, workers)
    else:
        raise UsageError(f"unknown engine {engine!r} (local or ray)")
    workers_stream = stream
    results: Iterator[tuple[int, dict[str, Any]]] = stream
    if progress is not None:
        results = iter(progress(stream, "preprocessing", len(files)))
    outcomes: list[dict[str, Any] | None] = [None] * len(files)
    try:
        for i, doc in results:
            outcomes[i] = doc
    finally:
        # A Ctrl-C that lands outside the generator must still end its pool now, not when
        # the generator is garbage-collected at exit (which waits for running work).
        workers_stream.close()
    done = [d for d in outcomes if d is not None]
    items = [d["item"] for d in done]
    frames = [row for d in done for row in d["frames"]]
    _write_csv(out / "items.csv", ITEM_COLUMNS, items)
    _write_csv(out / "frames.csv", FRAME_COLUMNS, frames)
    sources = [
        PackSource(out / d["faces"], [r for r in d["frames"] if r["path"]])
        for d in done
        if d.get("faces")
    ]
    pack = write_packed(out, sources, config.size, shard_size, {"preprocess": config.to_dict()})
    summary = {
        "items": len(items),
        "ok": sum(r["status"] in OK_STATUSES for r in items),
        "rejected": sum(r["status"] in REJECTED_STATUSES for r in items),
        "frames_out": len(frames),
        "seconds": round(time.perf_counter() - t0, 3),
        "valid_frames": sum(int(r["valid"]) for r in frames),
        "reused": sum(bool(d.get("reused")) for d in done),
        "failed": sum(bool(d.get("failed")) for d in done),
        "packed_faces": pack["count"],
        "out": str(out),
    }
    record = {
        "pedpain_version": __version__,
        "python": sys.version.split()[0],
        "opencv": cv2.__version__,
        "mediapipe": _version_of("mediapipe"),
        "ai_edge_litert": _version_of("ai-edge-litert"),
        "engine": engine,
        "workers": workers,
        "parameters": config.to_dict(),
        "photometric_steps_in_images": [
            name
            for name, on in (
                ("grey_world_white_balance", config.white_balance),
                ("bilateral_denoise_luminance", config.denoise),
                ("clahe_luminance", config.clahe),
            )
            if on
        ],
        "standardisation": "at model input (pedpain.vision.photometric.standardise)",
        "summary": summary,
        "disclaimer": DISCLAIMER,
    }
    atomic_write_text(out / "preprocess.json", json.dumps(record, indent=2) + "\n")
    return summary


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return ""
