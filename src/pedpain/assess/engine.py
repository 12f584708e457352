"""The assessment engine: photos, clips and frame streams in, honest pain scores out.

Pipeline per assessment: read -> faces made exactly as the model's training faces
(its ``preprocessing.json``) -> quality gate (abstain instead of guessing) -> identity
check across frames -> frame scores (ONNX Runtime or PyTorch) -> clip aggregation (the
model folder's temporal head, else a trimmed mean) -> the score on 0-10 (a PSPI model's
0-16 is mapped linearly) -> the child's age-appropriate scale and ``needs_treatment``.

Clips are analysed at ``analysis_fps`` frames per second of video (frame sampling: the
default is 10 for compact backbones and 2.5 for VGG-16 / ResNet-50 class ones), over the
protocol's 10 s window: the 10 s with the most usable faces.

Clip pipeline (``pipelined=True``, the default): a reader thread decodes the frames the
sampling keeps (the others are only grabbed, as seeking needs) while this thread finds,
tracks (face-mesh landmarks from the previous analysed frame; a full detection only every
``redetect_every`` analysed frames or when the track is lost) and aligns the faces, and
model threads (``MODEL_WORKERS`` for ONNX Runtime, one for PyTorch) score the usable
faces in batches of ``MODEL_BATCH`` as they come, one model call per batch. The faces
and the scores are those of the sequential path (``pipelined=False``: decode, analyse,
then score all at the end) to float precision; only the order of work differs.

The explanation (facial measures; Grad-CAM heat map with a folder) is computed on
request only (``explain=True`` or ``heatmap_dir``): it is not needed for the score and
Grad-CAM's backward pass costs more than the assessment itself.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pedpain.assess.backend import Backend, make_scorer, resolve_model, torch_threads
from pedpain.assess.explain import explain_geometry, grad_cam, heatmap_png
from pedpain.assess.pipeline_config import preprocess_config
from pedpain.assess.quality import (
    REASONS,
    FaceCheck,
    QualityThresholds,
    check_face,
    identity_distance,
    identity_vector,
    measures_summary,
    subject_reference,
    summarise_reasons,
)
from pedpain.assess.result import AssessmentResult
from pedpain.clinical.age import parse_age
from pedpain.clinical.scales import denormalise, recommended_scale
from pedpain.core.errors import UsageError
from pedpain.core.logging import get_logger
from pedpain.models.bundle import LoadedModel, load_model_folder, load_temporal_head
from pedpain.models.inputs import model_input
from pedpain.models.temporal import robust_pool
from pedpain.vision.processor import FaceProcessor, FaceResult
from pedpain.vision.reading import MediaRejected, VideoReader, read_image, sniff_kind
from pedpain.vision.timing import StageTimes
from pedpain.vision.video import BestWindow, outputs_for_source_frame

log = get_logger(__name__)

HEAVY_BACKBONES = frozenset({"vgg16", "resnet50", "vgg16_resnet50"})
LIGHT_ANALYSIS_FPS = 10.0
HEAVY_ANALYSIS_FPS = 2.5
MAX_PHOTOS = 3
#: Faces per model call in the clip pipeline: small enough that the last batch (scored
#: after the face stage ends) adds little latency and that two model threads share a
#: heavy model's 25 faces evenly, large enough to amortise a call (per face, batches of
#: 4-8 were the fastest for MobileNetV3 and VGG-16+ResNet-50 at 165 px on one thread).
MODEL_BATCH = 4
#: Model threads of the clip pipeline (ONNX Runtime sessions run concurrently, each call
#: on its own thread; PyTorch keeps one: its thread count is process-wide).
MODEL_WORKERS = 2
#: Decoded frames the reader may hold ahead of the face stage (fewer for huge frames).
READ_AHEAD_FRAMES = 8
READ_AHEAD_BYTES = 64_000_000
NOT_EXPLAINED = "not computed: ask for it (pedpain assess --explain; API explain=true)"

Input = str | Path | np.ndarray


@dataclass
class _Face:
    """One analysed face with its gate verdict."""

    face: FaceResult
    check: FaceCheck
    time_s: float = 0.0
    source: str = ""
    #: (intensity, probability, embedding) once the model has scored the face.
    scores: tuple[float, float, np.ndarray] | None = None


class Assessor:
    """A loaded model, ready to assess; reuse one for many assessments (loading the model
    and the face detectors is the slow part). Not thread-safe: one per worker."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        backend: Backend = "auto",
        home: Path | None = None,
        thresholds: QualityThresholds | None = None,
        analysis_fps: float | None = None,
        threads: int | None = 1,
        pipelined: bool = True,
    ) -> None:
        folder = resolve_model(model, home)
        self.loaded: LoadedModel = load_model_folder(folder)
        self.folder = folder
        self.scorer = make_scorer(self.loaded, backend, threads)
        self.threads = threads
        #: Clips through the threaded pipeline (see module); False: the sequential path.
        self.pipelined = pipelined
        self.config = preprocess_config(folder)
        self.thresholds = thresholds or QualityThresholds.for_model(folder)
        meta = self.loaded.meta
        self.target = str(meta.get("target", "pain"))
        self.target_max = float(meta["target_max"])
        heavy = meta.get("backbone") in HEAVY_BACKBONES
        self.analysis_fps = float(
            analysis_fps or (HEAVY_ANALYSIS_FPS if heavy else LIGHT_ANALYSIS_FPS)
        )
        if self.analysis_fps <= 0:
            raise UsageError("analysis_fps must be positive")
        self.temporal = _load_temporal(folder)
        self.model_info = {
            "name": meta.get("name"),
            "version": meta.get("version"),
            "sha256": meta.get("sha256"),
            "backbone": meta.get("backbone"),
            "stage": meta.get("stage"),
            "target": self.target,
            "target_max": self.target_max,
            "backend": self.scorer.backend,
            "folder": str(folder),
            "synthetic_data": bool(meta.get("synthetic_data", False)),
        }
        self._photo_processor: FaceProcessor | None = None
        self._clip_processor: FaceProcessor | None = None

    # ----------------------------------------------------------------- public API
    def assess(
        self,
        item: Input | Sequence[Input],
        age: str | int | None = None,
        baseline: Sequence[Input] | None = None,
        heatmap_dir: Path | None = None,
        explain: bool = False,
    ) -> AssessmentResult:
        """One assessment: a photo or clip path, an RGB array, or a list of 1-3 photos
        (paths or arrays) of the same moment. Never raises for a bad input: the result's
        status says ``error`` or ``abstain`` and why. ``explain`` adds the facial measures
        to ``explanation``; ``heatmap_dir`` also writes a Grad-CAM heat map there."""
        started = time.perf_counter()
        times = StageTimes()
        explain = explain or heatmap_dir is not None
        months = _months(age)
        group: list[Input] = list(item) if isinstance(item, (list, tuple)) else [item]  # type: ignore[list-item]
        names = [_name(x) for x in group]
        kind = "images" if len(group) > 1 else "image"
        base_faces = self._baseline_faces(baseline)
        try:
            if not group:
                raise UsageError("an assessment needs at least one photo")
            first = group[0]
            if len(group) == 1 and not isinstance(first, np.ndarray):
                fmt = sniff_kind(first)
                if fmt.kind == "video":
                    kind = "video"
                    if self.pipelined:
                        faces = self._clip_faces_pipelined(Path(first), times)
                    else:
                        faces = self._clip_faces(Path(first), times)
                    return self._finish(
                        faces, names, kind, months, base_faces, heatmap_dir, started,
                        explain, times,
                    )  # fmt: skip
            if len(group) > MAX_PHOTOS:
                raise UsageError(f"at most {MAX_PHOTOS} photos per assessment")
            faces = [self._photo_face(x, _name(x), times) for x in group]
            return self._finish(
                faces, names, kind, months, base_faces, heatmap_dir, started, explain, times
            )
        except MediaRejected as exc:
            return self._error(names, kind, exc.status, str(exc), started)
        except UsageError:
            raise
        except Exception as exc:  # one bad input must not stop a batch
            log.warning("assessment failed", extra={"input": names[0], "error": repr(exc)})
            return self._error(
                names, kind, "internal_error", f"internal error ({type(exc).__name__})", started
            )

    def stream(
        self,
        age: str | int | None = None,
        fps: float = 25.0,
        period_s: float = 1.0,
        baseline: Sequence[Input] | None = None,
    ) -> Stream:
        """A live stream: push frames one by one, get a result every ``period_s``."""
        return Stream(self, age=age, fps=fps, period_s=period_s, baseline=baseline)

    def close(self) -> None:
        for proc in (self._photo_processor, self._clip_processor):
            if proc is not None:
                proc.close()
        self._photo_processor = self._clip_processor = None

    def __enter__(self) -> Assessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- faces
    def new_processor(self) -> FaceProcessor:
        return FaceProcessor(self.config)

    def _photos(self) -> FaceProcessor:
        if self._photo_processor is None:
            self._photo_processor = self.new_processor()
        return self._photo_processor

    def _clips(self) -> FaceProcessor:
        if self._clip_processor is None:
            self._clip_processor = self.new_processor()
        return self._clip_processor

    def _photo_face(self, item: Input, name: str, times: StageTimes | None = None) -> _Face:
        clock = times or StageTimes()
        with clock.measure("decode"):
            rgb = item if isinstance(item, np.ndarray) else read_image(item)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise MediaRejected("unsupported", "photos must be RGB uint8 arrays (H, W, 3)")
        proc = self._photos()
        proc.times = times
        try:
            face = proc.process_image(rgb)
        finally:
            proc.times = None
        with clock.measure("quality"):
            check = check_face(face, self.thresholds)
        return _Face(face, check, 0.0, name)

    def _clip_faces(self, path: Path, times: StageTimes) -> list[_Face]:
        """The sequential clip path: each sampled frame decoded, then analysed, in turn;
        the model scores the kept faces afterwards (in ``_finish``)."""
        proc = self._clips()
        proc.reset()
        proc.times = times
        length = max(1, round(self.config.max_seconds * self.analysis_fps))
        window: BestWindow[_Face] = BestWindow(length)
        decoded = 0
        try:
            with VideoReader(path, self.config.max_video_megapixels) as reader:
                for index, rgb in _timed(reader.frames(self._wanted(reader)), times):
                    if rgb is None:
                        continue
                    decoded += 1
                    f = self._frame_face(proc, rgb, index / reader.info.fps, str(path), times)
                    window.push(f, f.check.ok)
                    if window.complete:
                        break
        finally:
            proc.times = None
        if decoded == 0:
            raise MediaRejected("unreadable", "no frame of the video could be decoded")
        return window.result()[1]

    def _clip_faces_pipelined(self, path: Path, times: StageTimes) -> list[_Face]:
        """The same faces as ``_clip_faces``, with decoding on a reader thread and the
        usable faces scored in batches on model threads while the next ones are found."""
        proc = self._clips()
        proc.reset()
        proc.times = times
        length = max(1, round(self.config.max_seconds * self.analysis_fps))
        window: BestWindow[_Face] = BestWindow(length)
        decoded = 0
        pending: list[_Face] = []
        batches: list[cf.Future[None]] = []
        try:
            with (
                VideoReader(path, self.config.max_video_megapixels) as reader,
                cf.ThreadPoolExecutor(self._model_workers(), "pedpain-model") as model,
            ):
                info = reader.info
                ahead = max(
                    1,
                    min(READ_AHEAD_FRAMES, READ_AHEAD_BYTES // (info.width * info.height * 3 or 1)),
                )
                frames = _ReadAhead(reader.frames(self._wanted(reader)), times, ahead)
                try:
                    for index, rgb in frames:
                        if rgb is None:
                            continue
                        decoded += 1
                        f = self._frame_face(proc, rgb, index / info.fps, str(path), times)
                        window.push(f, f.check.ok)
                        if f.check.ok:
                            # Scored ahead: a face the window or the identity check drops
                            # later costs one wasted score, never a different result.
                            pending.append(f)
                            if len(pending) >= MODEL_BATCH:
                                batches.append(model.submit(self._score, pending, times))
                                pending = []
                        if window.complete:
                            break
                finally:
                    frames.close()  # before the reader's capture is released
                if pending:
                    batches.append(model.submit(self._score, pending, times))
                for batch in batches:
                    batch.result()
        finally:
            proc.times = None
        if decoded == 0:
            raise MediaRejected("unreadable", "no frame of the video could be decoded")
        return window.result()[1]

    def _model_workers(self) -> int:
        if self.scorer.backend != "onnx":
            return 1
        return max(1, min(MODEL_WORKERS, os.cpu_count() or 1))

    def _wanted(self, reader: VideoReader) -> Callable[[int], bool]:
        """Which source frames the analysis rate keeps (the others are grabbed only)."""
        fps_in = reader.info.fps

        def wanted(index: int) -> bool:
            return len(outputs_for_source_frame(index, fps_in, self.analysis_fps)) > 0

        return wanted

    def _frame_face(
        self, proc: FaceProcessor, rgb: np.ndarray, time_s: float, source: str, times: StageTimes
    ) -> _Face:
        face = proc.process_frame(rgb)
        with times.measure("quality"):
            check = check_face(face, self.thresholds)
        return _Face(face, check, time_s, source)

    def _score(self, faces: list[_Face], times: StageTimes | None = None) -> None:
        """One model call for ``faces`` (their aligned images); scores stored on them."""
        if not faces:
            return
        clock = times or StageTimes()
        with clock.measure("model"):
            stack = np.stack([f.face.image for f in faces])  # type: ignore[misc]
            intensity, prob, embedding = self.scorer(stack)
        for f, i, p, e in zip(faces, intensity, prob, embedding, strict=True):
            f.scores = (float(i), float(p), e)

    # ----------------------------------------------------------------- scoring
    def _finish(
        self,
        faces: list[_Face],
        names: list[str],
        kind: str,
        months: int | None,
        base_faces: list[_Face],
        heatmap_dir: Path | None,
        started: float,
        explain: bool = False,
        times: StageTimes | None = None,
    ) -> AssessmentResult:
        times = times or StageTimes()
        with times.measure("quality"):
            self._check_identity(faces, base_faces)
        passed = [f for f in faces if f.check.ok]
        reasons = [f.check.reason for f in faces]
        quality: dict[str, Any] = {
            "faces_analysed": len(faces),
            "faces_passed": len(passed),
            "reasons": {r: reasons.count(r) for r in sorted(set(reasons)) if r},
            "thresholds": self.thresholds.source,
            **measures_summary([f.check for f in faces]),
        }
        if kind == "video":
            quality["analysis_fps"] = self.analysis_fps
        need = 1
        if kind in ("video", "stream"):
            need = max(
                self.thresholds.min_valid_frames,
                math.ceil(self.thresholds.min_valid_fraction * len(faces)),
            )
        result = AssessmentResult(
            input=names[0],
            kind=kind,
            status="abstain",
            quality=quality,
            model=dict(self.model_info),
            inputs=names,
        )
        if len(passed) < need:
            code, message = summarise_reasons([r for r in reasons if r])
            if passed:
                message = f"{message} in too many frames ({len(passed)} of {len(faces)} usable)"
            result.reason_code, result.reason = code, message
            result.timings_ms = times.ms()
            result.latency_ms = (time.perf_counter() - started) * 1000
            return result
        # Faces the clip pipeline did not score yet (all of them on the other paths):
        # one call, batched by the scorer.
        self._score([f for f in passed if f.scores is None], times)
        intensity = np.array([f.scores[0] for f in passed], dtype=np.float32)  # type: ignore[index]
        prob = np.array([f.scores[1] for f in passed], dtype=np.float32)  # type: ignore[index]
        embedding = np.stack([f.scores[2] for f in passed])  # type: ignore[index]
        with times.measure("pooling"):
            pooled_i, pooled_p, how = self._pool(intensity, prob, embedding)
        score = float(np.clip(pooled_i * 10.0 / self.target_max, 0, 10))
        result.status = "ok"
        result.score = score
        result.pain_probability = float(pooled_p)
        result.frames_used = len(passed)
        result.frame_scores = [
            {
                "time_s": round(f.time_s, 3),
                "source": f.source,
                "score": round(float(i) * 10.0 / self.target_max, 3),
                "pain_probability": round(float(p), 4),
            }
            for f, i, p in zip(passed, intensity, prob, strict=False)
        ]
        result.scale, result.needs_treatment = _on_scale(score, months)
        explanation: dict[str, Any] = {"measures": None, "note": NOT_EXPLAINED}
        if explain:
            with times.measure("explain"):
                explanation = explain_geometry(
                    [f.face for f in passed], [f.face for f in base_faces]
                )
        explanation["aggregation"] = how
        if self.target == "pspi" or self.target_max != 10:
            explanation["score_mapping"] = (
                f"model predicts {self.target.upper()} 0-{self.target_max:g}; "
                f"score = value x 10 / {self.target_max:g}"
            )
        if heatmap_dir is not None:
            with times.measure("explain"):
                png = self._heatmap(passed, intensity, names[0], heatmap_dir)
            explanation["heatmap"] = str(png)
        result.explanation = explanation
        result.timings_ms = times.ms()
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    def _pool(
        self, intensity: np.ndarray, prob: np.ndarray, embedding: np.ndarray
    ) -> tuple[float, float, str]:
        if self.temporal is not None and len(intensity) > 1:
            head = self.temporal
            with torch.inference_mode():
                frames = torch.from_numpy(embedding).float()[None]
                mask = torch.ones(1, frames.shape[1], dtype=torch.bool)
                frac, logit = head(frames, mask)
            value = float(frac.clamp(0, 1)[0]) * self.target_max
            return value, float(torch.sigmoid(logit)[0]), "temporal head"
        if len(intensity) == 1:
            return float(intensity[0]), float(prob[0]), "single face"
        how = "trimmed mean of face scores (10% each end)"
        return robust_pool(intensity), robust_pool(prob), how

    def _baseline_faces(self, baseline: Sequence[Input] | None) -> list[_Face]:
        faces = []
        for item in baseline or []:
            try:
                f = self._photo_face(item, _name(item))
            except MediaRejected as exc:
                raise UsageError(f"baseline {_name(item)}: {exc}") from None
            if f.check.ok:
                faces.append(f)
        if baseline and not faces:
            raise UsageError("no usable face in the baseline photos")
        return faces

    def _check_identity(self, faces: list[_Face], baseline: list[_Face]) -> None:
        """Faces far in shape from the subject (the baseline's, else the majority's)
        are another person: they are refused as ``wrong_face``."""
        vectors = {id(f): identity_vector(f.face) for f in faces if f.check.ok}
        ref_vectors = [v for v in (identity_vector(b.face) for b in baseline) if v is not None]
        if not ref_vectors:
            if len([v for v in vectors.values() if v is not None]) < 3:
                return  # with one or two faces there is no majority to compare with
            ref_vectors = [v for v in vectors.values() if v is not None]
        ref = subject_reference(ref_vectors)
        if ref is None:
            return
        for f in faces:
            v = vectors.get(id(f))
            if v is None:
                continue
            d = identity_distance(v, ref)
            f.check.measures["identity_distance"] = d
            if d > self.thresholds.max_identity_distance:
                f.check.reason = "wrong_face"

    def _heatmap(self, passed: list[_Face], intensity: np.ndarray, name: str, folder: Path) -> Path:
        k = int(np.argsort(intensity)[len(intensity) // 2])  # the median-scored face
        image = passed[k].face.image
        assert image is not None
        x = model_input(torch.from_numpy(image[None].copy()), self.loaded.spec)
        self.loaded.net.eval()
        with torch_threads(self.threads):
            cam = grad_cam(self.loaded.net, x.contiguous())
        stem = Path(name).stem if name else "frame"
        return heatmap_png(image, cam, Path(folder) / f"{stem}.heatmap.png")

    def _error(
        self, names: list[str], kind: str, code: str, message: str, started: float
    ) -> AssessmentResult:
        if kind == "image":
            kind = _guess_kind(names[0])
        return AssessmentResult(
            input=names[0],
            kind=kind,
            status="error",
            reason=f"{code}: {message}",
            reason_code=code,
            model=dict(self.model_info),
            latency_ms=(time.perf_counter() - started) * 1000,
            inputs=names,
        )


class Stream:
    """Webcam frames pushed one by one; every ``period_s`` seconds of stream time
    ``push`` returns an assessment of the frames of that period (else None).

        stream = assessor.stream(age="4y")
        for rgb in camera:
            result = stream.push(rgb)   # an AssessmentResult once a second
    """

    def __init__(
        self,
        assessor: Assessor,
        age: str | int | None = None,
        fps: float = 25.0,
        period_s: float = 1.0,
        baseline: Sequence[Input] | None = None,
    ) -> None:
        if fps <= 0 or period_s <= 0:
            raise UsageError("fps and period_s must be positive")
        self.assessor = assessor
        self.months = _months(age)
        self.fps = fps
        self.period_s = period_s
        self.baseline = assessor._baseline_faces(baseline)
        self.processor = assessor.new_processor()
        self._faces: list[_Face] = []
        self._count = 0
        self._next_emit = period_s
        self._next_sample = 0.0
        self._started = time.perf_counter()
        self.results: list[AssessmentResult] = []

    def push(self, rgb: np.ndarray, t: float | None = None) -> AssessmentResult | None:
        """Add one RGB frame (``t``: its time in seconds, default frame count / fps)."""
        now = self._count / self.fps if t is None else float(t)
        self._count += 1
        if now + 1e-9 >= self._next_sample:
            # Analyse at the assessor's analysis rate; frames in between are skipped.
            self._next_sample = now + 1.0 / self.assessor.analysis_fps - 1e-9
            face = self.processor.process_frame(rgb)
            check = check_face(face, self.assessor.thresholds)
            self._faces.append(_Face(face, check, now, f"stream@{now:.2f}s"))
        if now + 1e-9 >= self._next_emit:
            self._next_emit += self.period_s
            return self._emit(now)
        return None

    def flush(self) -> AssessmentResult | None:
        """The assessment of the frames pushed since the last result, if any."""
        if not self._faces:
            return None
        return self._emit(self._count / self.fps)

    def _emit(self, now: float) -> AssessmentResult:
        faces, self._faces = self._faces, []
        started, self._started = self._started, time.perf_counter()
        name = f"stream@{now:.1f}s"
        result = self.assessor._finish(
            faces, [name], "stream", self.months, self.baseline, None, started
        )
        self.results.append(result)
        return result

    def close(self) -> None:
        self.processor.close()


def assess(
    inputs: Input | Iterable[Input | Sequence[Input]],
    model: str | Path | None = None,
    age: str | int | None = None,
    *,
    group: bool = False,
    baseline: Sequence[Input] | None = None,
    backend: Backend = "auto",
    heatmap_dir: str | Path | None = None,
    analysis_fps: float | None = None,
    threads: int | None = 1,
    explain: bool = False,
) -> list[AssessmentResult]:
    """Assess each input (a photo or clip path, or an RGB array); an element that is
    itself a list or tuple is one assessment of 1-3 photos; ``group=True`` makes all
    ``inputs`` one such assessment. One result per assessment, in order."""
    items: list[Any]
    items = [inputs] if isinstance(inputs, (str, Path, np.ndarray)) else list(inputs)
    if group:
        items = [items]
    heat = Path(heatmap_dir) if heatmap_dir is not None else None
    with Assessor(model, backend=backend, analysis_fps=analysis_fps, threads=threads) as assessor:
        return [assessor.assess(x, age, baseline, heat, explain) for x in items]


# ---------------------------------------------------------------------------- helpers


def _timed(
    frames: Iterator[tuple[int, np.ndarray | None]], times: StageTimes
) -> Iterator[tuple[int, np.ndarray | None]]:
    """``frames`` with the time spent producing each (grab, retrieve, colour) as decode."""
    while True:
        t0 = time.perf_counter()
        item = next(frames, None)
        times.add("decode", time.perf_counter() - t0)
        if item is None:
            return
        yield item


class _ReadAhead:
    """Iterates ``frames`` on a reader thread, holding at most ``ahead`` decoded frames.
    OpenCV releases the interpreter lock while it decodes, so decoding overlaps the face
    stage. ``close()`` stops the thread (early stop) and waits for it."""

    _END = object()

    def __init__(
        self, frames: Iterator[tuple[int, np.ndarray | None]], times: StageTimes, ahead: int
    ) -> None:
        self._frames = frames
        self._times = times
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pedpain-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in _timed(self._frames, self._times):
                if item[1] is None:
                    continue  # grabbed only (not sampled): nothing for the face stage
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(self._END)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[int, np.ndarray | None]]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _months(age: str | int | None) -> int | None:
    if age is None:
        return None
    if isinstance(age, bool):
        raise UsageError("age must be text like 4y6m or a number of months")
    if isinstance(age, int):
        if age < 0:
            raise UsageError("age cannot be negative")
        return age
    return parse_age(str(age))


def _on_scale(score: float, months: int | None) -> tuple[dict[str, Any] | None, bool | None]:
    if months is None:
        return None, None
    scale = recommended_scale(months)
    if scale is None or scale.score_max is None:
        return None, None
    value = round(denormalise(score, scale), 1)
    return (
        {
            "name": scale.code,
            "full_name": scale.name,
            "score": value,
            "max": scale.score_max,
            "threshold": scale.threshold,
        },
        scale.needs_treatment(value),
    )


def _name(item: Input) -> str:
    if isinstance(item, np.ndarray):
        return f"<array {item.shape[1]}x{item.shape[0]}>" if item.ndim >= 2 else "<array>"
    return str(item)


def _guess_kind(name: str) -> str:
    from pedpain.vision.reading import VIDEO_EXTENSIONS

    return "video" if Path(name).suffix.lower() in VIDEO_EXTENSIONS else "image"


def _load_temporal(folder: Path) -> torch.nn.Module | None:
    """The folder's trained temporal head (``temporal.json`` + ``temporal.pt``), if any."""
    return load_temporal_head(folder)


__all__ = ["REASONS", "Assessor", "Stream", "assess"]
