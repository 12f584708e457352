"""How good are the GAN's faces? Two measures, both with a pedpain-trained encoder.

No Inception weights exist on this machine (and pedpain never downloads weights), so the
"FID" here is a Frechet distance on the backbone features of a pedpain pain model trained
on real faces. Its numbers are comparable only between runs that use the same encoder;
``frechet_real_baseline`` (the distance between two halves of the real faces) gives the
scale: a perfect generator would score about that.

The conditioning check scores generated faces with the same pain model: a generator that
follows its conditioning makes faces scored near the requested level (mean absolute
deviation and Pearson correlation between requested and scored level), compared with the
same regressor's deviation on real faces.
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
    }
