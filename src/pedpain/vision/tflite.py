"""MediaPipe's face models, run directly with the TensorFlow Lite interpreter.

The model files are the ones the ``mediapipe`` wheel ships (nothing is downloaded); they
run in ``ai-edge-litert``'s interpreter (XNNPACK, one thread: the process pool fills the
cores) instead of through MediaPipe's legacy solution graphs. The models are the same;
the graphs around them cost about as much again as the inference on a video frame
(image packets, protobuf results, per-call Python objects), and importing and starting
them costs each worker process about a second.

What the graphs did around the models is done by the callers, the same way:
``pedpain.vision.landmarks`` (face mesh) and ``pedpain.vision.detect`` (BlazeFace
detection).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from pedpain.core.errors import EnvironmentProblem
from pedpain.vision.mp_solutions import native_stderr_silenced

#: Model files inside the installed mediapipe package.
MEDIAPIPE_MODELS = {
    "face_landmark": Path("modules/face_landmark/face_landmark.tflite"),
    "face_detection_full_range": Path(
        "modules/face_detection/face_detection_full_range_sparse.tflite"
    ),
    "face_detection_short_range": Path("modules/face_detection/face_detection_short_range.tflite"),
}


def mediapipe_model(name: str) -> Path:
    """The path of one of MediaPipe's model files (mediapipe is located, not imported)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem(
            "mediapipe is not installed: pedpain uses the face models it ships "
            "(pip install mediapipe==0.10.21)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MEDIAPIPE_MODELS[name]
    if not path.is_file():
        raise EnvironmentProblem(f"a face model is missing from the mediapipe package: {path}")
    return path


def check_face_models() -> None:
    """Every model file and the interpreter are there (EnvironmentProblem, one line,
    otherwise): checked once before a batch, so a broken installation is one error and
    not the same failure for every file."""
    for name in MEDIAPIPE_MODELS:
        mediapipe_model(name)
    if importlib.util.find_spec("ai_edge_litert") is None:
        raise EnvironmentProblem(
            "ai-edge-litert is not installed: it runs the face models "
            "(pip install ai-edge-litert==2.3.0)"
        )


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Scores from the models' logits (clipped as MediaPipe does, so exp cannot overflow)."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, dtype=np.float64), -100.0, 100.0)))


class TFLiteModel:
    """One model in one interpreter: a float32 ``side`` x ``side`` RGB input (checked),
    outputs by their size."""

    def __init__(self, name: str, side: int, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            self._interp: Any = Interpreter(
                model_path=str(mediapipe_model(name)), num_threads=threads
            )
            self._interp.allocate_tensors()
            (inp,) = self._interp.get_input_details()
            self._input = inp["index"]
            shape = tuple(int(v) for v in inp["shape"])
            if shape != (1, side, side, 3):
                raise RuntimeError(f"unexpected input {shape} of the {name} model")
            self._outputs = {
                int(np.prod(d["shape"])): d["index"] for d in self._interp.get_output_details()
            }
            self.buffer = np.zeros(shape, dtype=np.float32)
            self.run()  # XNNPACK prepares on the first call: a quiet warm-up

    def run(self) -> dict[int, np.ndarray]:
        """Run on ``self.buffer`` (fill it first); outputs keyed by their element count."""
        self._interp.set_tensor(self._input, self.buffer)
        self._interp.invoke()
        return {size: self._interp.get_tensor(index) for size, index in self._outputs.items()}

    def close(self) -> None:
        self._interp = None
