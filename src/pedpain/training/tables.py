"""Build the FaceTable an experiment trains on, from its data configuration."""

from __future__ import annotations

from pathlib import Path

from pedpain.core.errors import UsageError
from pedpain.training.config import ExperimentConfig
from pedpain.training.datamodule import ArrayFaces
from pedpain.training.run import FaceTable


def load_face_table(config: ExperimentConfig, workdir: Path) -> FaceTable:
    data = config.data
    assert data.root is not None
    if data.kind == "unbc":
        from pedpain.data.unbc_faces import build_unbc_faces

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
    raise UsageError(f"data.kind {data.kind!r} is not available yet")
