"""Every command and subcommand of ``pedpain``: ``--help`` exits 0, shows examples and
lists the exit codes the command can end with."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from pedpain.cli.main import app


def _walk(command: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(command, "commands"):  # a group (typer may vendor its own click)
        for name, sub in sorted(command.commands.items()):
            found += _walk(sub, (*path, name))
    return found


ROOT = typer.main.get_command(app)
COMMANDS = [p for p in _walk(ROOT, ()) if p]


def test_the_tree_is_walked():
    assert {("train",), ("assess",), ("export", "onnx"), ("weights", "import")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_help_of_every_command_exits_0_and_lists_its_exit_codes(cli, path):
    r = cli(*path, "--help")
    assert r.code == 0, r.err
    text = " ".join(r.out.split())
    assert f"pedpain {' '.join(path)}" in text, "usage line"
    assert re.search(r"Exit codes?:", text), (
        f"'pedpain {' '.join(path)} --help' lists no exit codes"
    )
    assert re.search(r"\b0\b", text.split("Exit code", 1)[1]), "exit code 0 explained"
