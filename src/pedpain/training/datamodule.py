"""Data for training: a face store (uint8 faces, indexable) and a table of rows that say
which face, which subject, which target. Splits are always by subject."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from pedpain.data.faces import ArrayFaces as ArrayFaces  # re-exported for callers
from pedpain.data.faces import FaceStore, take_faces


def sample_weights(targets: np.ndarray, cap: float) -> np.ndarray:
    """Inverse-frequency weights over integer intensity levels, capped, mean 1.

    Most UNBC frames have PSPI 0; without this the regressor learns to say 0.
    """
    levels = np.rint(targets).astype(int)
    values, counts = np.unique(levels, return_counts=True)
    freq = dict(zip(values.tolist(), counts.tolist(), strict=True))
    raw = np.array([len(levels) / (len(values) * freq[v]) for v in levels.tolist()])
    raw = np.minimum(raw, cap)
    return raw / raw.mean()


def positive_weight(targets: np.ndarray, threshold: float, cap: float = 10.0) -> float:
    pos = float((targets >= threshold).sum())
    neg = float(len(targets) - pos)
    if pos == 0 or neg == 0:
        return 1.0
    return float(min(cap, neg / pos))


class FaceDataset(Dataset[dict[str, Any]]):
    def __init__(self, store: FaceStore, rows: pd.DataFrame) -> None:
        self.store = store
        self.face = rows["face"].to_numpy(dtype=np.int64)
        self.target = rows["target"].to_numpy(dtype=np.float32)
        self.weight = (
            rows["weight"].to_numpy(dtype=np.float32)
            if "weight" in rows
            else np.ones(len(rows), dtype=np.float32)
        )

    def __len__(self) -> int:
        return len(self.face)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "face": torch.from_numpy(np.array(self.store[int(self.face[i])], copy=True)),
            "target": torch.tensor(self.target[i]),
            "weight": torch.tensor(self.weight[i]),
        }

    def __getitems__(self, items: list[int]) -> dict[str, Any]:
        """A whole batch in one read (the DataLoader calls this instead of ``[i]`` per
        item): the per-face Python overhead would otherwise starve a GPU."""
        i = np.asarray(items, dtype=np.int64)
        return {
            "face": torch.from_numpy(take_faces(self.store, self.face[i])),
            "target": torch.from_numpy(self.target[i]),
            "weight": torch.from_numpy(self.weight[i]),
        }


def collate_batch(data: Any) -> Any:
    """Batches from ``__getitems__`` arrive already stacked; anything else is collated
    the default way."""
    if isinstance(data, dict):
        return data
    return default_collate(data)


class EpochSampler(Sampler[int]):
    """Shuffles with a generator seeded by (seed, epoch) and shards across DDP ranks.

    Lightning calls ``set_epoch`` each epoch, so a resumed run sees the same order as an
    uninterrupted one.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _ranks(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def __iter__(self) -> Iterator[int]:
        order = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            if self.shuffle
            else np.arange(self.n)
        )
        world, rank = self._ranks()
        if world > 1:  # pad so every rank gets the same number of samples
            total = int(np.ceil(self.n / world)) * world
            order = np.concatenate([order, order[: total - self.n]])
            order = order[rank::world]
        return iter(order.tolist())

    def __len__(self) -> int:
        world, _ = self._ranks()
        return int(np.ceil(self.n / world))


class FaceDataModule(L.LightningDataModule):
    def __init__(
        self,
        store: FaceStore,
        train_rows: pd.DataFrame,
        val_rows: pd.DataFrame | None,
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.store = store
        self.train_rows = train_rows
        self.val_rows = val_rows
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, rows: pd.DataFrame, train: bool) -> DataLoader[dict[str, Any]]:
        dataset = FaceDataset(self.store, rows)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(dataset), self.seed, shuffle=train),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=False,
            collate_fn=collate_batch,
        )

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        return self._loader(self.train_rows, train=True)

    def val_dataloader(self) -> DataLoader[dict[str, Any]] | list[Any]:
        if self.val_rows is None or len(self.val_rows) == 0:
            return []
        return self._loader(self.val_rows, train=False)
