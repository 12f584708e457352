"""A prospective cohort written straight into a study database (fast enough for 2,000
sessions): children, bedside sessions with BPS and three ratings, and the AI assessments
of one or more model folders. The demo builds its cohort through the study functions
instead; this fixture is for the validation's arithmetic and for the benchmark."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from pedpain.clinical.consensus import consensus
from pedpain.models.bundle import MODEL_FORMAT, sha256_file
from pedpain.store.accounts import AiAssessment
from pedpain.store.models import Media, Rating, Session, Subject

TIME_POINTS = ("pre_op", "pain", "no_pain", "post_analgesia")


@dataclass
class FakeModel:
    folder: Path
    sha256: str
    name: str


def fake_model_folder(folder: Path, name: str, trained_on: list[str] | None = None) -> FakeModel:
    """A model folder as far as the cohort and the registry read it: model.json and a
    weights file matching its checksum (not a network: nothing here runs it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pt").write_bytes(f"weights of {name}".encode())
    sha = sha256_file(folder / "model.pt")
    meta = {
        "format": MODEL_FORMAT,
        "name": name,
        "version": "1",
        # The typed metadata every model folder carries (models.bundle.ModelMeta).
        "stage": "transfer",
        "backbone": "resnet18",
        "input_spec": {"size": 64},
        "head_hidden": [8],
        "dropout": 0.1,
        "target": "pain",
        "target_max": 10,
        "sha256": sha,
        "subjects_train": trained_on or [],
        "subjects_val": [],
        "subjects_test": [],
        "created": "2026-11-01T00:00:00",
    }
    (folder / "model.json").write_text(json.dumps(meta))
    # The preprocessing every model folder must say it was trained with (the defaults).
    from pedpain.vision.config import PreprocessConfig

    (folder / "preprocessing.json").write_text(json.dumps(PreprocessConfig().to_dict()))
    return FakeModel(folder, sha, name)


def fill_cohort(
    store: Any,
    n_children: int,
    models: list[FakeModel],
    *,
    sessions_per_child: int = 4,
    seed: int = 0,
    abstain_every: int = 0,
    missing_rating_every: int = 0,
    missing_bps_every: int = 0,
    unblind_every: int = 0,
    prefix: str = "PC",
    with_media: bool = False,
) -> None:
    """Children ``PC-0000``...; each model's score is the latent pain plus its own noise."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 10, 1, 8, 0)
    with store.session() as db, db.begin():
        k = 0
        for i in range(n_children):
            months = int(rng.integers(1, 18 * 12))
            subject = Subject(
                code=f"{prefix}-{i:04d}",
                synthetic=True,
                group="experimental",
                sex="F" if i % 2 else "M",
                age_months=months,
                enrolled_at=start,
            )
            db.add(subject)
            db.flush()
            for j in range(sessions_per_child):
                k += 1
                latent = float(np.clip(rng.normal(4.5 if j % 2 else 1.5, 2.0), 0, 10))
                scores = [float(np.clip(round(latent + rng.normal(0, 0.8)), 0, 10))
                          for _ in range(3)]  # fmt: skip
                if missing_rating_every and k % missing_rating_every == 0:
                    scores = scores[:2]
                c = consensus(scores)
                bps = None
                if not (missing_bps_every and k % missing_bps_every == 0):
                    bps = float(np.clip(round(latent + rng.normal(0, 1.2)), 0, 10))
                session = Session(
                    code=f"{subject.code}-s{j}",
                    subject_id=subject.id,
                    time_point=TIME_POINTS[j % 4],
                    assessed_at=start + timedelta(hours=k),
                    hours_since_surgery=6.0 + j * 6,
                    bps_scale="FLACC" if bps is not None else None,
                    bps_score=bps,
                    bps_normalised=bps,
                    consensus_score=c.score,
                    rater_spread=c.spread,
                    n_ratings=c.n_ratings,
                    needs_adjudication=c.needs_adjudication,
                )
                if bps is not None:
                    session.bps_blind_to_ai = not (unblind_every and k % unblind_every == 0)
                if with_media:  # a row only: enough for who-is-compared checks
                    session.media = [Media(slot="photo_1.jpg", kind="photo", sha256="0" * 64,
                                           size_bytes=1)]  # fmt: skip
                db.add(session)
                db.flush()
                for r, value in enumerate(scores):
                    db.add(Rating(session_id=session.id, rater=f"rater{r}", role="rater",
                                  scale="FLACC", raw_score=value, normalised=value,
                                  blinded=True))  # fmt: skip
                for m, model in enumerate(models):
                    abstain = bool(abstain_every and (k + m) % abstain_every == 0)
                    score = (
                        None
                        if abstain
                        else float(np.clip(latent + rng.normal(0, 1.0 + 0.5 * m), 0, 10))
                    )
                    doc = {
                        "status": "abstain" if abstain else "ok",
                        "reason": "no_face: no usable face" if abstain else None,
                        "score": score,
                        "pain_probability": None if score is None else score / 10,
                        "model": {"name": model.name, "version": "1", "sha256": model.sha256},
                    }
                    db.add(AiAssessment(
                        session_id=session.id, created_at=start, created_by="nurse",
                        status=doc["status"], reason=doc["reason"], score=score,
                        model_name=model.name, model_sha256=model.sha256,
                        result_json=json.dumps(doc),
                    ))  # fmt: skip
