"""Photometric normalisation.

Stored faces get the steps the protocol lists, each switchable and recorded in
preprocess.json: edge-preserving denoising (bilateral filter), grey-world white balance,
and CLAHE on luminance. Standardisation ("mean square scaling": zero mean, unit variance)
is NOT baked into stored images: ``standardise`` applies it at model input, in training
and in assessment alike.
"""

from __future__ import annotations

import cv2
import numpy as np

CLAHE_CLIP = 2.0
CLAHE_TILES = (8, 8)
BILATERAL = {"d": 5, "sigmaColor": 20.0, "sigmaSpace": 5.0}


def denoise(rgb: np.ndarray) -> np.ndarray:
    """Bilateral filter: smooths sensor noise, keeps edges (wrinkles, brows) sharp."""
    return cv2.bilateralFilter(rgb, **BILATERAL)  # type: ignore[call-overload]


def grey_world(rgb: np.ndarray) -> np.ndarray:
    """Scale each channel so the image's mean colour is grey (removes colour casts)."""
    means = np.array(cv2.mean(rgb)[:3])
    if np.any(means < 1.0):
        return rgb  # a channel is (almost) empty: a cast cannot be estimated
    gains = means.mean() / means
    # One saturating per-channel gain (cv2.transform rounds and clips to uint8).
    return cv2.transform(rgb, np.diag(gains).astype(np.float32))


def clahe_luminance(rgb: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of luma (Y of YCrCb): evens out
    lighting across the face without shifting colours. YCrCb rather than Lab: the same
    separation of brightness from colour at a tenth of the conversion cost (0.1 ms
    instead of 0.9 ms per 256 px face), which matters at video rates."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=CLAHE_TILES)
    ycc[..., 0] = clahe.apply(np.ascontiguousarray(ycc[..., 0]))
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def normalise_face(
    rgb: np.ndarray, denoise_on: bool = True, white_balance: bool = True, clahe: bool = True
) -> np.ndarray:
    """The stored face: uint8 RGB in, uint8 RGB out, steps in a fixed order."""
    out = rgb
    if denoise_on:
        out = denoise(out)
    if white_balance:
        out = grey_world(out)
    if clahe:
        out = clahe_luminance(out)
    return out


def standardise(faces: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Model input: float32 with zero mean and unit variance per image (over H, W, C).

    Accepts one face (H, W, C) or a batch (N, H, W, C) of uint8 or float values.
    """
    x = np.asarray(faces, dtype=np.float32)
    axes = tuple(range(x.ndim - 3, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.maximum(std, eps)
