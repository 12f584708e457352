"""Faces from photos and videos: reading, detection, landmarks, alignment, normalisation,
quality, video sampling, and the packed training form.

The public entry points::

    from pedpain.vision import read_image, FaceProcessor, PreprocessConfig, PackedFaces
    rgb = read_image("photo.jpg")                  # RGB uint8, EXIF orientation applied
    face = FaceProcessor(PreprocessConfig()).process_image(rgb)
    face.valid, face.reason, face.image            # aligned SxSx3 uint8 (or None)

``pedpain.vision.pipeline.preprocess_file`` is the per-file function behind
``pedpain preprocess``; ``run_preprocess`` runs it over many files.
"""

from pedpain.vision.config import PreprocessConfig
from pedpain.vision.packed import PackedFaces
from pedpain.vision.processor import FaceProcessor, FaceResult, align_image
from pedpain.vision.reading import MediaRejected, read_image, sniff_kind

__all__ = [
    "FaceProcessor",
    "FaceResult",
    "MediaRejected",
    "PackedFaces",
    "PreprocessConfig",
    "align_image",
    "read_image",
    "sniff_kind",
]
