"""Videos: 25 fps resampling, the 10 s cut, the best window, dropped frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedpain.vision import FaceProcessor, PreprocessConfig
from pedpain.vision.video import process_video
from vision_media import write_video

SIZE = (320, 240)


@pytest.fixture(scope="module")
def processor() -> FaceProcessor:
    return FaceProcessor(PreprocessConfig())


@pytest.mark.slow
def test_15s_at_30fps_gives_250_frames(tmp_path: Path, processor: FaceProcessor) -> None:
    clip = write_video(tmp_path / "long.mp4", 15, 30, SIZE)
    out = process_video(clip, processor.config, processor)
    assert len(out.frames) == 250
    assert [f.output_index for f in out.frames] == list(range(250))
    assert all(f.face.valid for f in out.frames)
    assert out.window_start_s == 0.0
    tracked = sum(f.face.tracked for f in out.frames)
    assert tracked > 200  # the mesh tracks; full detection only now and then


def test_4s_clip_kept_whole_at_25fps(tmp_path: Path, processor: FaceProcessor) -> None:
    clip = write_video(tmp_path / "short.mp4", 4, 30, SIZE)
    out = process_video(clip, processor.config, processor)
    assert len(out.frames) == 100 and out.frames_in == 120
    # one source frame in six is never shown at 25 fps
    assert len({f.source_index for f in out.frames}) == 100


def test_2s_without_face_dropped_with_reason(tmp_path: Path, processor: FaceProcessor) -> None:
    clip = write_video(tmp_path / "gap.mp4", 6, 30, SIZE, face_at=lambda t: not 2 <= t < 4)
    out = process_video(clip, processor.config, processor)
    assert len(out.frames) == 150
    invalid = [f.output_index for f in out.frames if not f.face.valid]
    assert invalid == list(range(50, 100))
    assert {f.face.reason for f in out.frames if not f.face.valid} == {"no_face"}


@pytest.mark.slow
def test_longer_clip_keeps_window_with_most_valid_frames(
    tmp_path: Path, processor: FaceProcessor
) -> None:
    clip = write_video(tmp_path / "late.mp4", 14, 25, SIZE, face_at=lambda t: t >= 4)
    out = process_video(clip, processor.config, processor)
    assert len(out.frames) == 250
    assert out.window_start_s == pytest.approx(4.0)
    assert all(f.face.valid for f in out.frames)


def test_low_frame_rate_is_repeated_up_to_25(tmp_path: Path, processor: FaceProcessor) -> None:
    clip = write_video(tmp_path / "slow.avi", 2, 10, SIZE, fourcc="MJPG")
    out = process_video(clip, processor.config, processor)
    assert len(out.frames) == 50 and out.frames_in == 20
    assert len({f.source_index for f in out.frames}) == 20
