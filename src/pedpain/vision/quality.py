"""Per-face quality measures, the evidence the assessment engine abstains on."""

from __future__ import annotations

import cv2
import numpy as np

SHARPNESS_SIDE = 128  # sharpness is measured at a fixed scale so thresholds do not move


def luminance(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face resized to 128 px (higher = sharper)."""
    grey = luminance(rgb) if rgb.ndim == 3 else rgb
    if grey.shape[0] != SHARPNESS_SIDE:
        grey = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    _, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_32F))
    return float(std[0, 0]) ** 2


def exposure(rgb: np.ndarray) -> tuple[float, float]:
    """(brightness, contrast): mean and standard deviation of luminance, 0-255, over the
    central part of the face (the border may hold background)."""
    grey = luminance(rgb) if rgb.ndim == 3 else rgb
    h, w = grey.shape
    core = grey[h // 5 : h - h // 10, w // 5 : w - w // 5]
    mean, std = cv2.meanStdDev(core)
    return float(mean[0, 0]), float(std[0, 0])
