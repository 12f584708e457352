"""Reader for the UNBC-McMaster Shoulder Pain Expression Archive in its licensee layout.

pedpain never ships the archive; this reads a licence holder's copy (or pedpain's replica)::

    ROOT/Images/<SUBJ>/<SEQ>/<SEQ><NNN>.png
    ROOT/Frame_Labels/PSPI/<SUBJ>/<SEQ>/<SEQ><NNN>_facs.txt     one number
    ROOT/Frame_Labels/FACS/<SUBJ>/<SEQ>/<SEQ><NNN>_facs.txt     rows "AU intensity x x", or empty
    ROOT/AAM_landmarks/<SUBJ>/<SEQ>/<SEQ><NNN>_aam.txt          66 rows "x y"
    ROOT/Sequence_Labels/{VAS,OPR,AFF,SEN}/<SUBJ>/<SEQ>.txt     one number

Tolerant where the archive varies: zip extraction doubling the top folders
(``Images/Images``), copies without landmarks or sequence labels, MATLAB ``%.7e``
numbers with any whitespace or line ending.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pedpain.core.errors import UsageError

SUBJECT_RE = re.compile(r"^(?P<id>\d{3})-(?P<initials>[a-z]{2})(?P=id)$")
SEQUENCE_RE = re.compile(
    r"^(?P<initials>[a-z]{2})(?P<id>\d{3})t(?P<session>[12])a(?P<motion>[aefi])(?P<side>aff|unaff)$"
)
SEQUENCE_SCALES = ("VAS", "OPR", "AFF", "SEN")
#: Scale maxima used to bring sequence labels to 0-10 (OPR 0-5; AFF and SEN 0-15).
SEQUENCE_SCALE_MAX = {"VAS": 10.0, "OPR": 5.0, "AFF": 15.0, "SEN": 15.0}
PSPI_MAX = 16
#: Au codes that enter PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43.
PSPI_AUS = (4, 6, 7, 9, 10, 43)
#: Frames known to be pure black in the archive (subject, sequence, frame numbers).
KNOWN_BLACK_FRAMES = {("095-tv095", "tv095t2aeunaff", i) for i in range(1, 8)}
#: A frame whose mean intensity is below this is treated as black.
BLACK_MEAN = 10.0

#: The 25 subjects of the archive.
SUBJECTS = (
    "042-ll042",
    "043-jh043",
    "047-jl047",
    "048-aa048",
    "049-bm049",
    "052-dr052",
    "059-fn059",
    "064-ak064",
    "066-mg066",
    "080-bn080",
    "092-ch092",
    "095-tv095",
    "096-bg096",
    "097-gf097",
    "101-mg101",
    "103-jk103",
    "106-nm106",
    "107-hs107",
    "108-th108",
    "109-ib109",
    "115-jy115",
    "120-kz120",
    "121-vw121",
    "123-jh123",
    "124-dn124",
)


def parse_matlab_number(text: str) -> float:
    """One number written by MATLAB ``save -ascii`` (``   4.0000000e+00``)."""
    parts = text.split()
    if len(parts) != 1:
        raise ValueError(f"expected one number, found {len(parts)} fields")
    return float(parts[0])


def parse_facs(text: str) -> dict[int, float]:
    """FACS rows ``AU intensity flag flag``; an empty file means no action unit coded.

    AU43 (eyes closed) has no graded intensity in the archive: present means 1.
    """
    aus: dict[int, float] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"line {line_no}: expected 'AU intensity ...', got {line.strip()!r}")
        au = round(float(fields[0]))
        intensity = float(fields[1])
        aus[au] = 1.0 if au == 43 else intensity
    return aus


def parse_landmarks(text: str) -> np.ndarray:
    """66 points ``x y`` (image pixels), returned as a (66, 2) float array."""
    values = np.array([float(v) for v in text.split()], dtype=np.float64)
    if values.size != 132:
        raise ValueError(f"expected 66 landmark points (132 numbers), found {values.size} numbers")
    return values.reshape(66, 2)


def pspi_from_aus(aus: dict[int, float]) -> float:
    """PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43 (Prkachin & Solomon)."""

    def get(au: int) -> float:
        return aus.get(au, 0.0)

    return get(4) + max(get(6), get(7)) + max(get(9), get(10)) + (1.0 if get(43) > 0 else 0.0)


@dataclass(frozen=True)
class UnbcFrame:
    subject: str
    sequence: str
    number: int  # 1-based, as in the file name
    image: Path
    pspi_file: Path | None
    facs_file: Path | None
    landmarks_file: Path | None

    @property
    def subject_id(self) -> str:
        """The numeric id (``042``): initials repeat across subjects, the id does not."""
        return self.subject[:3]

    @property
    def known_black(self) -> bool:
        return (self.subject, self.sequence, self.number) in KNOWN_BLACK_FRAMES

    def pspi(self) -> float | None:
        if self.pspi_file is None:
            return None
        return parse_matlab_number(self.pspi_file.read_text(encoding="ascii"))

    def aus(self) -> dict[int, float] | None:
        if self.facs_file is None:
            return None
        return parse_facs(self.facs_file.read_text(encoding="ascii"))

    def landmarks(self) -> np.ndarray | None:
        if self.landmarks_file is None:
            return None
        return parse_landmarks(self.landmarks_file.read_text(encoding="ascii"))


@dataclass
class UnbcSummary:
    root: str
    subjects: int
    sequences: int
    frames: int
    frames_pspi_positive: int
    black_frames: int
    has_landmarks: bool
    has_sequence_labels: bool
    pspi_histogram: dict[str, int]
    frames_without_pspi: int = 0
    black_frames_scanned: bool = True
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _resolve_top(root: Path, *parts: str) -> Path | None:
    """``root/parts`` or its doubled form ``root/parts/parts[-1]`` from zip extraction."""
    plain = root.joinpath(*parts)
    doubled = plain / parts[-1]
    if doubled.is_dir() and any(
        SUBJECT_RE.match(p.name) or p.name in SEQUENCE_SCALES or p.name in ("PSPI", "FACS")
        for p in doubled.iterdir()
    ):
        return doubled
    return plain if plain.is_dir() else None


class UnbcArchive:
    """A UNBC-McMaster tree on disk (real or replica)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UsageError(f"not a folder: {self.root}")
        images = _resolve_top(self.root, "Images")
        if images is None:
            raise UsageError(f"no Images/ folder under {self.root}: not a UNBC-McMaster tree")
        self.images_dir = images
        labels = _resolve_top(self.root, "Frame_Labels")
        self.pspi_dir = _subdir(labels, "PSPI")
        self.facs_dir = _subdir(labels, "FACS")
        self.landmarks_dir = _resolve_top(self.root, "AAM_landmarks")
        self.sequence_labels_dir = _resolve_top(self.root, "Sequence_Labels")
        self.problems: list[str] = []

    # -- structure -------------------------------------------------------------------
    def subjects(self) -> list[str]:
        found = []
        for p in sorted(self.images_dir.iterdir()):
            if p.is_dir() and SUBJECT_RE.match(p.name):
                found.append(p.name)
            elif p.is_dir():
                self.problems.append(f"ignored folder with a non-UNBC subject name: {p.name}")
        return found

    def sequences(self, subject: str) -> list[str]:
        out = []
        for p in sorted((self.images_dir / subject).iterdir()):
            if not p.is_dir():
                continue
            match = SEQUENCE_RE.match(p.name)
            if match and match.group("id") == subject[:3]:
                out.append(p.name)
            else:
                self.problems.append(f"ignored sequence folder {subject}/{p.name}")
        return out

    def frames(self, subject: str | None = None) -> Iterator[UnbcFrame]:
        subjects = [subject] if subject is not None else self.subjects()
        for subj in subjects:
            for seq in self.sequences(subj):
                yield from self._sequence_frames(subj, seq)

    def _sequence_frames(self, subj: str, seq: str) -> Iterator[UnbcFrame]:
        pattern = re.compile(rf"^{re.escape(seq)}(\d{{3}})\.png$", re.IGNORECASE)
        for image in sorted((self.images_dir / subj / seq).iterdir()):
            match = pattern.match(image.name)
            if not match:
                continue
            stem = f"{seq}{match.group(1)}"
            yield UnbcFrame(
                subject=subj,
                sequence=seq,
                number=int(match.group(1)),
                image=image,
                pspi_file=_existing(self.pspi_dir, subj, seq, f"{stem}_facs.txt"),
                facs_file=_existing(self.facs_dir, subj, seq, f"{stem}_facs.txt"),
                landmarks_file=_existing(self.landmarks_dir, subj, seq, f"{stem}_aam.txt"),
            )

    def sequence_labels(self, subject: str, sequence: str) -> dict[str, float]:
        """VAS, OPR, AFF and SEN of one sequence (those present)."""
        labels: dict[str, float] = {}
        if self.sequence_labels_dir is None:
            return labels
        for scale in SEQUENCE_SCALES:
            path = self.sequence_labels_dir / scale / subject / f"{sequence}.txt"
            if path.is_file():
                try:
                    labels[scale] = parse_matlab_number(path.read_text(encoding="ascii"))
                except (ValueError, UnicodeDecodeError) as exc:
                    self.problems.append(f"{path}: {exc}")
        return labels

    # -- summary ---------------------------------------------------------------------
    def summary(self, scan_images: bool = True, workers: int = 4) -> UnbcSummary:
        frames = list(self.frames())
        if not frames:
            raise UsageError(
                f"no UNBC-McMaster frames (Images/<SUBJ>/<SEQ>/<SEQ>NNN.png) under {self.root}"
            )
        subjects = {f.subject for f in frames}
        sequences = {(f.subject, f.sequence) for f in frames}
        histogram: Counter[str] = Counter()
        positive = missing = 0
        for frame in frames:
            try:
                value = frame.pspi()
            except (ValueError, UnicodeDecodeError) as exc:
                self.problems.append(f"{frame.pspi_file}: {exc}")
                value = None
            if value is None:
                missing += 1
                continue
            histogram[str(round(value))] += 1
            positive += value > 0
        if scan_images:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                means = list(pool.map(frame_mean, (f.image for f in frames)))
            for frame, mean in zip(frames, means, strict=True):
                if mean is None:
                    self.problems.append(f"unreadable image: {frame.image}")
            black = sum(m is not None and m < BLACK_MEAN for m in means)
        else:
            black = sum(f.known_black for f in frames)
        has_labels = self.sequence_labels_dir is not None and any(
            self.sequence_labels(s, q) for s, q in sorted(sequences)[:5]
        )
        return UnbcSummary(
            root=str(self.root),
            subjects=len(subjects),
            sequences=len(sequences),
            frames=len(frames),
            frames_pspi_positive=positive,
            black_frames=black,
            has_landmarks=any(f.landmarks_file is not None for f in frames),
            has_sequence_labels=has_labels,
            pspi_histogram={str(k): histogram.get(str(k), 0) for k in range(PSPI_MAX + 1)},
            frames_without_pspi=missing,
            black_frames_scanned=scan_images,
            problems=list(dict.fromkeys(self.problems)),
        )


def _subdir(base: Path | None, name: str) -> Path | None:
    return base / name if base is not None and (base / name).is_dir() else None


def _existing(base: Path | None, subj: str, seq: str, name: str) -> Path | None:
    if base is None:
        return None
    path = base / subj / seq / name
    return path if path.is_file() else None


def frame_mean(image: Path) -> float | None:
    """Mean grey level of an image (None when it cannot be decoded)."""
    import cv2

    pixels = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
    return None if pixels is None else float(pixels.mean())
