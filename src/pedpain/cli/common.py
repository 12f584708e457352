"""What every command shares: settings from the context, JSON output, exit codes."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import typer

from pedpain.core.settings import Settings, load_settings


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the top-level callback resolved (flags > env > config > defaults)."""
    root = ctx.find_root()
    if isinstance(root.obj, Settings):
        return root.obj
    settings = load_settings()
    root.obj = settings
    return settings


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; undefined metrics are null
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value


def print_json(doc: Any) -> None:
    """Write exactly one JSON document to stdout (the --json contract)."""
    sys.stdout.write(json.dumps(_jsonable(doc), ensure_ascii=False, indent=2, allow_nan=False))
    sys.stdout.write("\n")
    sys.stdout.flush()


#: The exit codes a command group's --help lists (each subcommand lists its own).
GROUP_EXIT_CODES = (
    "Exit codes: 0 ok, 1 bug, 2 bad usage (unknown or missing subcommand, bad option), "
    "3 some inputs rejected, 4 environment problem; each subcommand's --help says which "
    "apply."
)
