"""Faces by position and what is known about each: the table every stage trains on and
every model is evaluated on. Plain NumPy and pandas (no training code), so scoring a
model folder never loads the training stack."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd


class FaceStore(Protocol):
    """Anything that returns aligned faces as (S, S, 3) uint8 RGB arrays by position."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


def take_faces(store: FaceStore, positions: np.ndarray) -> np.ndarray:
    """Faces at ``positions`` as one (n, S, S, 3) uint8 array, through the store's own
    batch read when it has one (packed shards, arrays), else one face at a time."""
    batch = getattr(store, "batch", None)
    if callable(batch):
        return np.asarray(batch(positions))
    return np.stack([np.asarray(store[int(i)]) for i in positions.tolist()])


class ArrayFaces:
    """Faces held in one (N, S, S, 3) uint8 array (or a memory map of one)."""

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ValueError("faces must be an (N, S, S, 3) uint8 array")
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __getitem__(self, index: int) -> np.ndarray:
        return np.asarray(self.array[index])

    def batch(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[np.asarray(indices, dtype=np.int64)])


@dataclass
class FaceTable:
    """Faces and what is known about each: columns ``face`` (position in the store),
    ``subject``, ``clip``, ``frame``, ``target`` and optional metadata (``age_months``,
    ``sex``, ``time_point``, ``group``, ``session_id``)."""

    store: FaceStore
    rows: pd.DataFrame
    preprocessing: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def data_hash(self) -> str:
        cols = [c for c in ("subject", "clip", "frame", "target") if c in self.rows]
        digest = hashlib.sha256(pd.util.hash_pandas_object(self.rows[cols], index=False).values)
        return digest.hexdigest()
