"""Shared fixtures: run the CLI in-process and capture stdout/stderr/exit code."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
