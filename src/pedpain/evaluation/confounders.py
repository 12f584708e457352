"""Does a model score pain, or the cues pain shares with other expressions?

A pain model trained on the phantom should rank faces by the pain they show *within* each
confounder (a smiling child in pain above the same child smiling without pain, a yawning
child in pain above the same child yawning) and score faces that show only a confounder
(smiling, laughing, yawning, talking, sleeping, frowning in concentration, sucking a
pacifier, crying without pain) low. This module renders a probe set of held-out phantom
children (identities from a seed stream no cohort uses) with every confounder their age
allows at four pain strengths, aligns the faces the way ``pedpain preprocess`` stores
them, scores them with any scorer, and summarises per confounder:

- ``auc``: probability that a face with pain (``pain_pspi`` >= 1) scores above a face
  without pain of the same confounder, with a bootstrap 95 % interval over children;
- ``paired_win_rate``: the same within each child (pain face vs its own pain-free face);
- ``spearman``: rank correlation between score and ``pain_pspi``;
- ``false_alarm_rate``: share of confounder-only faces scored at or above the threshold,
  and their mean score next to the pain-free neutral face's.

A confounder passes when ``auc`` >= :data:`MIN_AUC` and ``false_alarm_rate`` <=
:data:`MAX_FALSE_ALARM`. The truth is the phantom's, so this checks what the model learned,
not clinical validity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pedpain.data.phantom.confounders import (
    CONFOUNDERS,
    NONE,
    allowed,
    confounder_actions,
)
from pedpain.data.phantom.expression import actions_for_level, combine, draw_gates
from pedpain.data.phantom.identities import make_identity
from pedpain.data.phantom.render import Camera, Pose, Props, make_look, render_frame
from pedpain.vision.align import alignment_matrix, eye_centres, warp_face
from pedpain.vision.photometric import normalise_face

MIN_AUC = 0.75
MAX_FALSE_ALARM = 0.25
#: Seed stream of the probe identities: far from the cohort's per-subject seeds.
PROBE_SEED_BASE = 7_000_000
Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ProbeParams:
    children: int = 10
    seed: int = 2020
    size: int = 128  # the demo's preprocessed face size
    levels: tuple[float, ...] = (0.0, 0.45, 0.75, 1.05)
    confounder_strength: float = 0.85


def probe_set(params: ProbeParams = ProbeParams()) -> tuple[np.ndarray, pd.DataFrame]:
    """Aligned probe faces (N, S, S, 3) uint8 and their truth (child, age, confounder,
    level, pain_pspi, pspi). Deterministic for the parameters."""
    faces: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    ages = np.linspace(4, 160, params.children).astype(int)
    for child in range(params.children):
        rng = np.random.default_rng([params.seed, child])
        age = int(ages[child])
        ident = make_identity(
            PROBE_SEED_BASE + params.seed * 1000 + child, age_months=age, key=f"probe-{child}"
        )
        pose = Pose(
            roll=float(rng.normal(0, 5)),
            yaw=float(rng.normal(0, 5)),
            iod=60.0,
            x=0.5,
            y=0.42,
        )
        for name in (NONE, *allowed(age)):
            look = make_look(
                ident, 256, 256, np.random.default_rng([params.seed, child, 1]), pose,
                Props(pacifier=name == "pacifier"),
            )  # fmt: skip
            conf = confounder_actions(name, params.confounder_strength, phase=1.0)
            gates = draw_gates(rng)
            for level in params.levels:
                pain = actions_for_level(level * ident.expressiveness, None, gates)
                actions = combine(pain, conf)
                frame, truth = render_frame(
                    look, actions, pose, Camera(noise=2.0), rng, hand=False, second_face=False
                )
                mesh = truth.pop("_mesh")
                right, left = eye_centres(np.asarray(mesh))
                matrix = alignment_matrix(right, left, params.size)
                faces.append(normalise_face(warp_face(frame, matrix, params.size)))
                rows.append(
                    {
                        "child": child,
                        "age_months": age,
                        "confounder": name,
                        "level": level,
                        "pain_pspi": pain.pspi(),
                        "pspi": actions.pspi(),
                    }
                )
    return np.stack(faces), pd.DataFrame(rows)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    if len(pos) == 0 or len(neg) == 0:
        return None
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def summarise(
    truth: pd.DataFrame,
    scores: np.ndarray,
    threshold: float,
    n_bootstrap: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-confounder ranking and false alarms of ``scores`` (0-10) against ``truth``."""
    frame = truth.assign(score=np.asarray(scores, dtype=float))
    rng = np.random.default_rng(seed)
    rest = frame[(frame["confounder"] == NONE) & (frame["pain_pspi"] == 0)]["score"]
    out: dict[str, Any] = {}
    for name in (NONE, *CONFOUNDERS):
        part = frame[frame["confounder"] == name]
        if part.empty:
            continue
        pain = part["pain_pspi"].to_numpy() >= 1
        score = part["score"].to_numpy()
        auc = _auc(score[pain], score[~pain])
        children = part["child"].to_numpy()
        ids = np.unique(children)
        boot = []
        for _ in range(n_bootstrap if auc is not None else 0):
            pick = rng.choice(ids, len(ids))
            idx = np.concatenate([np.where(children == c)[0] for c in pick])
            value = _auc(score[idx][pain[idx]], score[idx][~pain[idx]])
            if value is not None:
                boot.append(value)
        wins = []
        for c in ids:
            mine = part[part["child"] == c]
            base = mine[mine["pain_pspi"] == 0]["score"]
            if base.empty:
                continue
            hurt = mine[mine["pain_pspi"] >= 1]["score"].to_numpy()
            wins.extend((hurt > float(base.mean())).tolist())
        only = part[part["pain_pspi"] == 0]["score"].to_numpy()
        alarm = float((only >= threshold).mean()) if len(only) else None
        entry = {
            "n_faces": len(part),
            "n_children": len(ids),
            "auc": auc,
            "auc_ci95": (
                [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]
                if len(boot) >= 20
                else None
            ),
            "paired_win_rate": float(np.mean(wins)) if wins else None,
            "spearman": _spearman(score, part["pain_pspi"].to_numpy(dtype=float)),
            "no_pain_mean_score": float(only.mean()) if len(only) else None,
            "pain_mean_score": float(score[pain].mean()) if pain.any() else None,
            "false_alarm_rate": alarm,
        }
        entry["passed"] = bool(
            auc is not None and auc >= MIN_AUC and (alarm is None or alarm <= MAX_FALSE_ALARM)
        )
        out[name] = entry
    return {
        "threshold": threshold,
        "rest_mean_score": float(rest.mean()) if len(rest) else None,
        "min_auc": MIN_AUC,
        "max_false_alarm_rate": MAX_FALSE_ALARM,
        "per_confounder": out,
        "passed": bool(out) and all(v["passed"] for v in out.values()),
        "failed": [k for k, v in out.items() if not v["passed"]],
    }


def confounder_check(
    scorer: Scorer,
    threshold: float = 3.0,
    params: ProbeParams = ProbeParams(),
    n_bootstrap: int = 500,
) -> dict[str, Any]:
    """Render the probe set, score it with ``scorer`` (faces -> scores on 0-10), and
    summarise per confounder. The document says which faces and which rule."""
    faces, truth = probe_set(params)
    scores = np.asarray(scorer(faces), dtype=float).reshape(-1)
    if len(scores) != len(truth):
        raise ValueError(f"the scorer returned {len(scores)} scores for {len(truth)} faces")
    doc = summarise(truth, scores, threshold, n_bootstrap=n_bootstrap)
    doc["probe"] = {
        **asdict(params),
        "faces": len(truth),
        "identities": "phantom children from a seed stream no cohort uses (held out)",
        "truth": "pain_pspi = PSPI of the pain expression alone; confounder faces add "
        "their own actions (a smile's AU6 is not pain)",
    }
    doc["rule"] = (
        f"a confounder passes when AUC (pain_pspi >= 1 vs 0, same confounder) >= {MIN_AUC} "
        f"and at most {MAX_FALSE_ALARM:.0%} of its pain-free faces score >= the threshold"
    )
    return doc


def model_scorer(model: Any, batch: int = 64) -> Scorer:
    """Scores on 0-10 from a loaded pedpain model folder (:class:`LoadedModel`)."""
    import torch

    from pedpain.models.bundle import FaceScorer

    scorer = FaceScorer(model).eval()
    factor = 10.0 / float(model.target_max)

    def run(faces: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(faces), batch):
                x = torch.from_numpy(np.ascontiguousarray(faces[start : start + batch]))
                intensity, _ = scorer(x)
                out.append(intensity.float().numpy().reshape(-1) * factor)
        return np.concatenate(out)

    return run
