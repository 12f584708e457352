"""Issue 20: the phantom's confounder expressions (independent of pain, in truth/), pain
actions that do not all move together, skin cues that deepen with intensity and differ
by age, and the same bytes for the same seed."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from pedpain.data.phantom.confounders import (
    CONFOUNDERS,
    allowed,
    confounder_actions,
    draw_confounder,
)
from pedpain.data.phantom.expression import (
    PAIN_ACTIONS,
    actions_for_level,
    combine,
    draw_gates,
)
from pedpain.data.phantom.identities import make_identity
from pedpain.data.phantom.oapc import CohortParams, generate_cohort
from pedpain.data.phantom.render import Camera, Pose, Props, make_look, render_frame, render_head
from pedpain.data.phantom.unbc import UnbcParams, generate_unbc


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("conf") / "cohort"
    generate_cohort(out, CohortParams(subjects=12, seed=3, photo_size="small", video_seconds=1.2))
    return out


def test_truth_records_confounders_independent_of_pain(cohort: Path) -> None:
    photos = [r for r in read(cohort / "truth" / "media.csv") if r["kind"] == "photo"]
    frames = read(cohort / "truth" / "frames.csv")
    for rows in (photos, frames):
        assert {"confounder", "confounder_strength", "pain_pspi", "au1", "au12", "jaw"} <= set(
            rows[0]
        )
    names = {r["confounder"] for r in photos}
    assert "none" in names and len(names - {"none"}) >= 5, names
    assert len({r["confounder"] for r in frames} - {"none"}) >= 2
    # Independent of pain: confounders are as common in high-pain photos as in low-pain ones.
    latent = np.array([float(r["latent_pain"]) for r in photos])
    has = np.array([r["confounder"] != "none" for r in photos])
    high = latent >= 5
    assert 0.25 < has[high].mean() < 0.75 and 0.25 < has[~high].mean() < 0.75
    assert abs(has[high].mean() - has[~high].mean()) < 0.3
    # pain_pspi is the pain expression alone; the face's PSPI adds e.g. a smile's AU6.
    for r in photos:
        if r["confounder"] == "none":
            assert r["pspi"] == r["pain_pspi"]
        assert int(r["pspi"]) >= int(r["pain_pspi"])
    smiles = [r for r in photos if r["confounder"] in ("smile", "laugh")]
    assert smiles and all(float(r["au12"]) >= 1.5 for r in smiles)


def test_confounders_fit_age_and_have_their_actions() -> None:
    assert "pacifier" in allowed(10) and "pacifier" not in allowed(60)
    assert "talk" not in allowed(12) and "talk" in allowed(48)
    rng = np.random.default_rng(0)
    draws = [draw_confounder(rng, 60)[0] for _ in range(2000)]
    assert 0.4 < np.mean([d != "none" for d in draws]) < 0.6
    assert set(draws) == {"none", *allowed(60)}
    smile = confounder_actions("smile", 1.0)
    assert smile.au12 >= 3 and smile.au4 == 0 and smile.au9 == 0
    yawn = confounder_actions("yawn", 1.0)
    assert yawn.jaw >= 4 and yawn.au4 == 0 and yawn.au7 == 0 and yawn.mouth == 0
    sleep = confounder_actions("sleep", 0.5)
    assert sleep.au43 >= 0.5 and sleep.pspi() == 1  # AU43 alone
    frown = confounder_actions("frown", 1.0)
    assert frown.au4 >= 3 and frown.au9 == frown.au10 == frown.au43 == frown.mouth == 0
    cry = confounder_actions("cry_no_pain", 1.0)
    assert cry.mouth >= 3 and cry.au1 >= 3 and cry.au4 == 0
    for name in CONFOUNDERS:
        assert confounder_actions(name, 1.0).as_dict() != confounder_actions("none", 1.0).as_dict()
    mixed = combine(actions_for_level(0.9), smile)
    assert mixed.au12 == smile.au12 and mixed.au4 == actions_for_level(0.9).au4


def test_pain_actions_are_partly_decoupled() -> None:
    """Across photos of strong pain, single actions are often absent and no pair of
    actions moves in lockstep (the earlier phantom: every correlation ~1)."""
    rng = np.random.default_rng(1)
    faces = [actions_for_level(rng.uniform(0.0, 1.1), None, draw_gates(rng)) for _ in range(600)]
    values = np.array([[getattr(f, a) for a in PAIN_ACTIONS] for f in faces])
    corr = np.corrcoef(values.T)
    off = corr[~np.eye(len(PAIN_ACTIONS), dtype=bool)]
    assert off.max() < 0.9, off.max()
    strong = [f for f in faces if f.pspi() >= 6]
    assert np.mean([f.mouth < 1 for f in strong]) > 0.2  # pain without crying
    assert np.mean([f.au43 < 0.5 for f in strong]) > 0.4
    assert np.mean([f.au4 >= 1 for f in strong]) > 0.8
    # Without gates: the earlier, fully coupled pain face.
    plain = np.array(
        [[getattr(actions_for_level(v), a) for a in PAIN_ACTIONS] for v in np.linspace(0.3, 1, 20)]
    )
    assert np.corrcoef(plain.T)[0, 1] > 0.95


def _patch_darkness(ident_age: int, au4: float, adult: bool = False) -> float:
    """Mean darkness between the brows (the AU4 furrows) relative to neutral skin."""
    from pedpain.data.phantom.expression import ActionUnits

    ident = make_identity(12, age_months=ident_age, adult=adult)
    look = make_look(ident, 320, 320, np.random.default_rng(0), Pose(), Props())
    look.head = ident.rgba.copy()  # no lighting gradient
    zero = ActionUnits()
    base, _ = render_head(look, zero)
    face, _ = render_head(look, ActionUnits(au4=au4))
    # The furrows sit on the neutral landmarks between the brows; measure on the
    # displaced face by the same canvas window (brows move little in x).
    mid = (ident.mesh[107, :2] + ident.mesh[336, :2]) / 2
    x, y = int(mid[0]), int(mid[1])
    win = (slice(y - 4, y + 16), slice(x - 10, x + 10))
    return float(base[win][..., :3].astype(float).mean() - face[win][..., :3].astype(float).mean())


def test_skin_cues_deepen_with_intensity_and_differ_by_age() -> None:
    weak, strong = _patch_darkness(60, 1.5), _patch_darkness(60, 5.0)
    assert 0 < weak < strong
    infant, teen = make_identity(4, age_months=4), make_identity(4, age_months=150)
    # Infants: wider, softer furrows and a stronger brow bulge; older: sharper lines.
    assert infant.textures["light_au4"].max() > teen.textures["light_au4"].max()
    assert infant.textures["dark_au4"].max() < teen.textures["dark_au4"].max()
    assert (infant.textures["dark_au4"] > 0.05).sum() != (teen.textures["dark_au4"] > 0.05).sum()
    for key in ("dark_au4", "light_au4", "dark_au6", "light_au6", "dark_au9", "dark_au10"):
        assert key in teen.textures and float(teen.textures[key].max()) > 0.05, key


def test_confounder_faces_differ_from_rest_and_from_pain() -> None:
    ident = make_identity(21, age_months=40)
    pose = Pose(iod=70)
    look = make_look(ident, 240, 240, np.random.default_rng(1), pose, Props())

    def face(actions: object) -> np.ndarray:
        img, _ = render_frame(look, actions, pose, Camera(noise=0), np.random.default_rng(0))  # type: ignore[arg-type]
        return img.astype(float)

    rest = face(confounder_actions("none", 0))
    pain = face(actions_for_level(1.0))
    for name in ("smile", "yawn", "sleep", "frown", "cry_no_pain"):
        img = face(confounder_actions(name, 1.0))
        assert np.abs(img - rest).mean() > 0.3, name
        assert np.abs(img - pain).mean() > 0.3, name


@pytest.mark.slow
def test_same_seed_same_bytes_including_truth(tmp_path: Path) -> None:
    params = CohortParams(subjects=2, seed=8, photo_size="small", video_seconds=0.8)
    a, b = tmp_path / "a", tmp_path / "b"
    generate_cohort(a, params)
    generate_cohort(b, params)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert any(str(f).endswith(".mp4") for f in files)
    for rel in files:
        assert (
            hashlib.sha256((a / rel).read_bytes()).digest()
            == hashlib.sha256((b / rel).read_bytes()).digest()
        ), rel
    old = tmp_path / "old"
    generate_cohort(old, CohortParams(**{**params.__dict__, "confounders": False}))
    old_rows = [r for r in read(old / "truth" / "media.csv") if r["kind"] == "photo"]
    assert {r["confounder"] for r in old_rows} == {"none"}
    assert (old / "media.csv").read_bytes() != (a / "media.csv").read_bytes()


@pytest.mark.slow
def test_unbc_phantom_writes_confounders(tmp_path: Path) -> None:
    generate_unbc(tmp_path / "u", UnbcParams(subjects=4, frames_per_sequence=8, seed=2))
    rows = read(tmp_path / "u" / "phantom_truth.csv")
    assert {"confounder", "pain_pspi", "au12", "jaw"} <= set(rows[0])
    assert len({r["confounder"] for r in rows} - {"none"}) >= 2
    smiles = [r for r in rows if r["confounder"] in ("smile", "laugh")]
    assert all(int(r["pspi"]) >= int(r["pain_pspi"]) for r in rows)
    assert not smiles or any(float(r["au12"]) >= 1 for r in smiles)
