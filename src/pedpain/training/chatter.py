"""Lightning warnings and log lines that are noise for pedpain's users."""

from __future__ import annotations

import logging
import warnings


def quiet_lightning_logs() -> None:
    """Lightning's INFO lines (devices found, parameters, checkpoints) off the console;
    its warnings stay. Callers skip this under ``--debug``."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ignore_lightning_chatter() -> None:
    """Inside ``warnings.catch_warnings()``: hide Lightning's warnings that are advice
    for other set-ups (few loader workers on a 2-core machine, fewer batches than the
    logging interval on small data, no validation set by design) or a deprecation inside
    Lightning itself, so a user sees the warnings that matter."""
    for pattern in (
        r".*does not have many workers.*",
        r"(?i).*number of (the )?training batches.*",
        r".*is smaller than the logging interval.*",
        r".*Total length of .* across ranks is zero.*",
        r".*LeafSpec.* is deprecated.*",
        # A resumed run finds its own checkpoint folder: expected, not a clash.
        r".*Checkpoint directory .* exists and is not empty.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
