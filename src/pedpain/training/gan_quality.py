"""How good are the GAN's faces? Three measures, with a pedpain-trained encoder.

No Inception weights exist on this machine (and pedpain never downloads weights), so the
"FID" here is a Frechet distance on the backbone features of a pedpain pain model trained
on real faces. Its numbers are comparable only between runs that use the same encoder;
``frechet_real_baseline`` (the distance between two halves of the real faces) gives the
scale: a perfect generator would score about that.

The conditioning check scores generated faces with the same pain model: a generator that
follows its conditioning makes faces scored near the requested level (mean absolute
deviation and Pearson correlation between requested and scored level), compared with the
same regressor's deviation on real faces.

The diversity check asks whether the faces of one level differ from each other as much as
real faces of that level do (a collapsed generator draws one face per level): the mean
pairwise distance among generated faces of a level over the same among real faces of that
level, in two spaces (small colour thumbnails: appearance, who the child looks like; the
encoder's features: what the pain model sees), averaged over the levels that have real
faces. The headline ``diversity_ratio`` is the lower of the two; the target is
:data:`DIVERSITY_TARGET`. Read it next to the Frechet distance: noise is diverse too, so
a high ratio means "not collapsed", not "good faces".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg

from pedpain.core.errors import UsageError
from pedpain.evaluation import metrics as point
from pedpain.models.bundle import LoadedModel, load_model_folder
from pedpain.models.gan import Generator, generate
from pedpain.models.inputs import model_input

DIVERSITY_TARGET = 0.85
#: Real faces per level used for the diversity reference (random, fixed seed).
DIVERSITY_REAL_PER_LEVEL = 64


def thumbnails(faces: np.ndarray, side: int = 16) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, side*side*3) floats in 0-1: coarse appearance."""
    import cv2

    return np.stack(
        [
            cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0
            for f in faces
        ]
    )


def mean_pairwise_distance(x: np.ndarray) -> float | None:
    """Mean Euclidean distance over all pairs of rows; None below two rows."""
    if len(x) < 2:
        return None
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


def within_level_diversity(
    real: np.ndarray, real_levels: np.ndarray, fake: np.ndarray, fake_levels: np.ndarray
) -> dict[str, Any]:
    """Per level (with >= 2 real and >= 2 generated rows): generated / real mean pairwise
    distance of the given descriptors, and their mean over levels."""
    per: dict[int, dict[str, float]] = {}
    for level in sorted(set(real_levels.tolist()) & set(fake_levels.tolist())):
        r = mean_pairwise_distance(real[real_levels == level])
        f = mean_pairwise_distance(fake[fake_levels == level])
        if r is None or f is None or r <= 0:
            continue
        per[int(level)] = {"real": r, "generated": f, "ratio": f / r}
    ratio = float(np.mean([v["ratio"] for v in per.values()])) if per else None
    return {"ratio": ratio, "per_level": per}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets a (N, D) and b (M, D):
    |mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca Cb)^1/2)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two samples on each side")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ca, cb = np.atleast_2d(ca), np.atleast_2d(cb)
    covmean = linalg.sqrtm(ca @ cb)
    if not np.isfinite(covmean).all():
        # Singular product (few samples, many features): regularise, as is usual.
        eps = np.eye(ca.shape[0]) * 1e-6
        covmean = linalg.sqrtm((ca + eps) @ (cb + eps))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(covmean)))


@torch.no_grad()
def encode(model: LoadedModel, faces: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Faces (N, S, S, 3) uint8 -> (backbone features (N, D), scores on the target scale)."""
    feats, scores = [], []
    net = model.net.eval()
    for start in range(0, len(faces), batch):
        x = model_input(
            torch.from_numpy(np.ascontiguousarray(faces[start : start + batch])), model.spec
        )
        f = net.backbone(x)
        frac, _ = net.head(f)
        feats.append(f.float().numpy())
        scores.append((frac.clamp(0, 1) * model.target_max).float().numpy())
    return np.concatenate(feats), np.concatenate(scores)


def gan_quality(
    generator: Generator,
    encoder: str | Path,
    real_faces: np.ndarray,
    real_levels: np.ndarray,
    per_level: int = 32,
    seed: int = 12345,
) -> dict[str, Any]:
    """real_faces: (N, S, S, 3) uint8 at the GAN's size (so both sides pass the same
    resolution); real_levels: their integer levels."""
    model = load_model_folder(encoder)
    n_levels = generator.spec.n_levels
    if round(model.target_max) + 1 != n_levels:
        raise UsageError(
            f"encoder {encoder} scores 0-{model.target_max:g} but the GAN has {n_levels} levels"
        )
    rng = np.random.default_rng(seed)
    # Frechet distance: generated faces with the real faces' level distribution.
    order = rng.permutation(len(real_faces))
    half = len(order) // 2
    levels = torch.from_numpy(real_levels[order[:half]].astype(np.int64))
    fake = generate(generator, levels, seed=seed).numpy()
    f_real_a, _ = encode(model, real_faces[order[:half]])
    f_real_b, _ = encode(model, real_faces[order[half : 2 * half]])
    f_fake, _ = encode(model, fake)
    fd = frechet_distance(f_real_a, f_fake)
    baseline = frechet_distance(f_real_a, f_real_b)

    # Conditioning: per_level faces at every level, scored by the real-trained regressor.
    requested = np.repeat(np.arange(n_levels), per_level)
    generated = generate(generator, torch.from_numpy(requested), seed=seed + 1).numpy()
    _, scored = encode(model, generated)
    _, real_scored = encode(model, real_faces)
    r = point.pearson(requested, scored)
    per = {int(level): float(np.mean(scored[requested == level])) for level in range(n_levels)}
    seen = sorted(set(real_levels.tolist()))
    seen_mask = np.isin(requested, seen)
    real_err = np.abs(real_scored - real_levels)

    # Diversity within each level, generated vs real, in two descriptor spaces.
    pick = np.concatenate(
        [rng.permutation(np.where(real_levels == v)[0])[:DIVERSITY_REAL_PER_LEVEL] for v in seen]
    )
    real_feats, _ = encode(model, real_faces[pick])
    gen_feats, _ = encode(model, generated)
    by_pixels = within_level_diversity(
        thumbnails(real_faces[pick]), real_levels[pick], thumbnails(generated), requested
    )
    by_features = within_level_diversity(real_feats, real_levels[pick], gen_feats, requested)
    ratios = [v for v in (by_pixels["ratio"], by_features["ratio"]) if v is not None]
    diversity = min(ratios) if ratios else None
    return {
        "encoder": str(encoder),
        "features": f"{model.meta['backbone']} backbone (pedpain-trained, not Inception)",
        "n_real": int(half),
        "n_generated": len(fake),
        "frechet_distance": fd,
        "frechet_real_baseline": baseline,
        "conditioning_mad": point.mae(scored, requested),
        "conditioning_r": r,
        # Levels with no real face give the generator no signal: judged apart.
        "levels_seen": [int(v) for v in seen],
        "conditioning_mad_seen_levels": point.mae(scored[seen_mask], requested[seen_mask]),
        "mean_score_per_level": per,
        # Level-balanced, like the conditioning check (real faces are mostly level 0).
        "real_mad": float(np.mean([real_err[real_levels == v].mean() for v in seen])),
        "real_r": point.pearson(real_levels, real_scored),
        "diversity_ratio": diversity,
        "diversity_target": DIVERSITY_TARGET,
        "diversity_met": diversity is not None and diversity >= DIVERSITY_TARGET,
        "diversity_pixels": by_pixels,
        "diversity_features": by_features,
        "diversity_method": (
            "generated / real mean pairwise distance among faces of the same level, "
            f"{per_level} generated and up to {DIVERSITY_REAL_PER_LEVEL} real faces per "
            "level, averaged over levels with real faces; headline = the lower of 16x16 "
            "colour thumbnails and encoder features"
        ),
    }
