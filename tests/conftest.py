"""Shared fixtures: run the CLI in-process and capture stdout/stderr/exit code."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Database fixtures (dbenv: SQLite and PostgreSQL) for the tests/test_db_*.py files.
from db_fixtures import _postgres_admin, dbenv, postgres_url  # noqa: F401
from pedpain.cli.main import run


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's PEDPAIN_* variables or writes into the repo."""
    for key in list(os.environ):
        if key.startswith("PEDPAIN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PEDPAIN_NO_PROGRESS", "1")
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="session")
def tiny_unbc_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small UNBC-layout tree (6 subjects, 2 sequences of 12 frames each)."""
    from training_fixtures import make_unbc_tree

    return make_unbc_tree(tmp_path_factory.mktemp("unbc"))


@pytest.fixture(scope="session")
def tiny_source_model(
    tmp_path_factory: pytest.TempPathFactory, tiny_unbc_tree: Path
) -> tuple[Path, Path, dict[str, Any]]:
    """One trained model for the whole session (per xdist worker: each worker has its
    own temporary folders): (config, model folder, the `pedpain train --json` summary)
    of an uninterrupted 3-epoch resnet18 source run at 64 px."""
    import contextlib
    import io
    import json

    from training_fixtures import write_config

    base = tmp_path_factory.mktemp("trained")
    cfg = write_config(base / "c.yaml", tiny_unbc_tree)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(["train", "--config", str(cfg), "--out", str(base / "m"), "--json"])
    assert code == 0
    return cfg, base / "m", json.loads(out.getvalue())
