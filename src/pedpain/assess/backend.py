"""Scoring faces with a model folder, in PyTorch or ONNX Runtime, and exporting to ONNX.

Both backends take the stored faces (N, S, S, 3) uint8 and return, per face, the pain
intensity on the model's target scale, the pain probability and the head's embedding
(what a temporal head pools). The ONNX graph holds the same input path as training
(resize, standardisation), so the two backends agree to float precision.

Default model: ``--model`` > ``PEDPAIN_MODEL`` (setting ``model``) > ``PEDPAIN_HOME/models/
active`` (a folder or a symbolic link to one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from pedpain.core.errors import EnvironmentProblem, UsageError
from pedpain.core.files import atomic_write_bytes
from pedpain.core.logging import get_logger
from pedpain.models.bundle import (
    ONNX_FILE,
    ONNX_META,
    LoadedModel,
    read_onnx_record,
    read_preprocessing,
    resolve_model_folder,
    sha256_file,
    write_onnx_record,
)
from pedpain.models.inputs import model_input

log = get_logger(__name__)

Backend = Literal["auto", "torch", "onnx"]
TOLERANCE = 1e-4


def resolve_model(model: str | Path | None, home: Path | None = None) -> Path:
    """The model folder to use (see module doc); EnvironmentProblem when there is none.

    The default comes from the settings (``model``, ``home``), never from the
    environment directly: ``home`` overrides the settings' data root when given."""
    from pedpain.core.settings import load_settings

    settings = load_settings(home=home)
    return resolve_model_folder(model, settings)


class Scorer(Protocol):
    backend: str

    def __call__(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


class ScoringModule(torch.nn.Module):
    """uint8 faces -> (intensity on the target scale, probability, embedding)."""

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.net = loaded.net
        self.spec = loaded.spec
        self.target_max = float(loaded.target_max)

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = model_input(faces, self.spec)
        features = self.net.backbone(x)
        frac, logit = self.net.head(features)
        embedding = self.net.head.embed(features)
        return frac.clamp(0, 1) * self.target_max, torch.sigmoid(logit), embedding


class TorchScorer:
    backend = "torch"

    def __init__(self, loaded: LoadedModel, batch: int = 32, threads: int | None = 1) -> None:
        self.module = ScoringModule(loaded).eval()
        self.batch = batch
        self.threads = threads

    @torch.inference_mode()
    def __call__(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        outs: list[tuple[np.ndarray, ...]] = []
        with torch_threads(self.threads):
            for start in range(0, len(faces), self.batch):
                chunk = torch.from_numpy(np.ascontiguousarray(faces[start : start + self.batch]))
                outs.append(tuple(t.float().numpy() for t in self.module(chunk)))
        return _concat(outs)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``threads`` inside the block only: the
    count is process-wide, and a library must not change it for its caller (a training
    run in the same process would lose its threads and its determinism)."""
    before = torch.get_num_threads()
    if not threads or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class OnnxScorer:
    backend = "onnx"

    def __init__(self, path: Path, batch: int = 32, threads: int | None = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.batch = batch

    def __call__(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        outs = []
        for start in range(0, len(faces), self.batch):
            chunk = np.ascontiguousarray(faces[start : start + self.batch], dtype=np.uint8)
            outs.append(tuple(self.session.run(None, {"faces": chunk})))
        return _concat(outs)


def _concat(outs: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not outs:
        empty = np.zeros(0, np.float32)
        return empty, empty, np.zeros((0, 0), np.float32)
    a, b, c = (np.concatenate([o[i] for o in outs]) for i in range(3))
    return a, b, c


def onnx_usable(folder: Path, weights_sha: str) -> Path | None:
    """The folder's model.onnx when it was exported from these very weights and its own
    checksum still matches, else None."""
    onnx_path = folder / ONNX_FILE
    meta = read_onnx_record(folder)  # a damaged record is refused, not skipped
    if meta is None or not onnx_path.is_file():
        return None
    if meta.get("weights_sha256") != weights_sha:
        return None
    if meta.get("onnx_sha256") != sha256_file(onnx_path):
        log.warning("model.onnx does not match its checksum; using PyTorch")
        return None
    return onnx_path


def make_scorer(loaded: LoadedModel, backend: Backend = "auto", threads: int | None = 1) -> Scorer:
    """ONNX Runtime when the folder holds a matching export (or when asked), else torch.

    ``threads``: intra-op threads (ONNX Runtime's session; for PyTorch, set while it
    scores and restored after). One by default: on a shared bedside computer spinning
    worker threads cost more than they gain; None leaves the libraries' defaults."""
    if backend not in ("auto", "torch", "onnx"):
        raise UsageError(f"unknown backend {backend!r} (torch, onnx or auto)")
    if backend == "torch":
        return TorchScorer(loaded, threads=threads)
    path = onnx_usable(loaded.folder, loaded.meta["sha256"])
    if path is None:
        if backend == "onnx":
            raise EnvironmentProblem(
                f"no verified model.onnx in {loaded.folder}: run 'pedpain export onnx "
                f"--model {loaded.folder} --out {loaded.folder / ONNX_FILE}'"
            )
        return TorchScorer(loaded, threads=threads)
    try:
        return OnnxScorer(path, threads=threads)
    except ImportError:
        if backend == "onnx":
            raise EnvironmentProblem("onnxruntime is not installed") from None
        return TorchScorer(loaded, threads=threads)


# -------------------------------------------------------------------------------- export


@dataclass
class ExportReport:
    path: Path
    max_abs_diff: float
    sha256: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.path),
            "max_abs_diff": self.max_abs_diff,
            "tolerance": TOLERANCE,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 2),
        }


def export_onnx(loaded: LoadedModel, out: Path, seed: int = 0) -> ExportReport:
    """Export with the dynamo exporter, check ONNX Runtime against PyTorch on random
    faces (max abs diff <= 1e-4 on every output), then write ``out`` atomically; next to
    it, ``onnx.json`` records both checksums when ``out`` sits in the model folder."""
    import time
    import warnings

    import onnxruntime as ort

    started = time.perf_counter()
    module = ScoringModule(loaded).eval()
    size = int(_stored_size(loaded))
    example = torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=["faces"],
                output_names=["intensity", "probability", "embedding"],
                dynamic_shapes={"faces": {0: batch}},
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types
            raise EnvironmentProblem(f"ONNX export failed: {type(exc).__name__}: {exc}") from None
    assert program is not None
    data = program.model_proto.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n in (1, 3, 8):
        faces = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=gen)
        with torch.inference_mode():
            ref = [t.numpy() for t in module(faces)]
        got = session.run(None, {"faces": faces.numpy()})
        worst = max([worst, *(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=False))])
    if not worst <= TOLERANCE:
        raise EnvironmentProblem(
            f"ONNX model disagrees with PyTorch (max abs diff {worst:.2e} > {TOLERANCE:g}); "
            "nothing written"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    meta = {
        "weights_sha256": loaded.meta["sha256"],
        "onnx_sha256": digest,
        "max_abs_diff": worst,
        "tolerance": TOLERANCE,
        "exporter": "torch.onnx.export(dynamo=True)",
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "input": f"faces uint8 (N, {size}, {size}, 3) RGB",
        "outputs": ["intensity (target scale)", "probability", "embedding"],
    }
    if out.resolve().parent == loaded.folder.resolve() and out.name == ONNX_FILE:
        write_onnx_record(loaded.folder / ONNX_META, meta)
    else:
        write_onnx_record(out.with_suffix(".json"), meta)
    return ExportReport(out, worst, digest, time.perf_counter() - started)


def _stored_size(loaded: LoadedModel) -> int:
    """The side of the stored faces the model was trained on (preprocessing.json)."""
    return read_preprocessing(loaded.folder).size
