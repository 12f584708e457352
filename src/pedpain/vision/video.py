"""Videos to aligned face frames: resampled to 25 fps, at most 10 s kept.

Rules (also in ``pedpain preprocess --help`` and the README):
- Frame rate: output frame k shows the source frame on screen at time k/25 s (sample and
  hold), so 30 fps becomes 25 by dropping one frame in six and 15 fps becomes 25 by
  repeating some. Source frames that no output frame shows are never converted or
  analysed. Timing uses the container's nominal rate.
- Length: clips up to 10 s are kept whole. For a longer clip the kept 10 s (250 output
  frames) is the window with the most valid frames; ties go to the earliest window.
  Reading stops as soon as a window with every frame valid has been seen.
- Memory: frames are decoded one at a time; only the faces of the current and of the
  best window so far are held (2 x 250 faces), whatever the clip's length.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pedpain.vision.config import PreprocessConfig
from pedpain.vision.processor import FaceProcessor, FaceResult
from pedpain.vision.reading import VideoInfo, VideoReader

T = TypeVar("T")


def outputs_for_source_frame(index: int, fps_in: float, fps_out: float) -> range:
    """Output frame numbers that show source frame ``index`` (sample and hold)."""
    eps = 1e-9
    start = math.ceil(index * fps_out / fps_in - eps)
    stop = math.ceil((index + 1) * fps_out / fps_in - eps)
    return range(start, max(start, stop))


class BestWindow(Generic[T]):
    """Online choice of the run of ``length`` consecutive items with the most valid ones
    (earliest on ties), holding at most two windows of items."""

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError("window length must be at least 1")
        self.length = length
        self._window: deque[tuple[T, bool]] = deque()
        self._valid = 0
        self._seen = 0
        self.best: list[T] = []
        self.best_start = 0
        self.best_valid = -1

    def push(self, item: T, valid: bool) -> None:
        self._window.append((item, valid))
        self._valid += int(valid)
        self._seen += 1
        if len(self._window) > self.length:
            _, was_valid = self._window.popleft()
            self._valid -= int(was_valid)
        if len(self._window) == self.length and self._valid > self.best_valid:
            self.best = [it for it, _ in self._window]
            self.best_valid = self._valid
            self.best_start = self._seen - self.length

    @property
    def complete(self) -> bool:
        """A window with every item valid exists: no later window can beat it."""
        return self.best_valid == self.length

    def result(self) -> tuple[int, list[T]]:
        """(index of the first kept item, the kept items)."""
        if self._seen < self.length:
            return 0, [it for it, _ in self._window]
        return self.best_start, self.best


@dataclass
class VideoFrame:
    output_index: int  # in the resampled clip, before the window cut
    source_index: int
    face: FaceResult


@dataclass
class VideoOutcome:
    info: VideoInfo
    frames_in: int
    frames: list[VideoFrame]  # the kept window, in order
    window_start_s: float


def process_video(
    path: str | Path,
    config: PreprocessConfig,
    processor: FaceProcessor,
    on_frame: Callable[[int], None] | None = None,
) -> VideoOutcome:
    """Stream the video through ``processor`` and return the kept frames (see module)."""
    processor.reset()
    with VideoReader(path, config.max_video_megapixels) as reader:
        fps_in = reader.info.fps
        window: BestWindow[VideoFrame] = BestWindow(config.window_frames)
        read = 0
        stopped_early = False

        def wanted(index: int) -> bool:
            return len(outputs_for_source_frame(index, fps_in, config.fps)) > 0

        for index, rgb in reader.frames(wanted):
            read = index + 1
            if rgb is None:
                continue
            face = processor.process_frame(rgb)
            for k in outputs_for_source_frame(index, fps_in, config.fps):
                window.push(VideoFrame(k, index, face), face.valid)
            if on_frame is not None:
                on_frame(index)
            if window.complete:
                stopped_early = True
                break
        start, kept = window.result()
        frames_in = max(read, reader.info.frame_count) if stopped_early else read
        return VideoOutcome(reader.info, frames_in, kept, start / config.fps)
