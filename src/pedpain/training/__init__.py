"""Training: one entry point for every stage, ``train_from_config`` (see
``pedpain.training.entry``), on one Lightning trainer (``pedpain.training.trainer``).

Loaded on first use: importing this package does not load Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pedpain.training.entry import TrainingRun, train_from_config

__all__ = ["TrainingRun", "train_from_config"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pedpain.training import entry

        return getattr(entry, name)
    raise AttributeError(f"module 'pedpain.training' has no attribute {name!r}")
