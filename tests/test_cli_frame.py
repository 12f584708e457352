from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pedpain
from pedpain.cli.main import app


def test_version(cli):
    result = cli("--version")
    assert result.code == 0
    assert result.out.strip() == f"pedpain {pedpain.__version__}"


def test_help_lists_commands_and_disclaimer(cli):
    result = cli("--help")
    assert result.code == 0
    assert "scales" in result.out and "demo" in result.out
    assert "not a medical device" in " ".join(result.out.split())


def test_no_arguments_prints_help_and_is_usage_error(cli):
    result = cli()
    assert result.code == 2
    assert "Usage" in result.err


@pytest.mark.parametrize("command", sorted(c.name for c in app.registered_commands if c.name))
def test_every_command_has_help_with_an_example(cli, command):
    result = cli(command, "--help")
    assert result.code == 0
    examples = result.out.split("Examples:", 1)[1]
    assert f"pedpain {command}" in examples


@pytest.mark.parametrize(
    "args",
    [("--no-such-flag",), ("scales", "--no-such-flag"), ("no-such-command",), ("scales", "--age")],
)
def test_bad_usage_is_one_line_exit_2(cli, args):
    result = cli(*args)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("pedpain: error:")
    assert "Traceback" not in result.err


def test_pedpain_error_is_one_line_and_debug_adds_traceback(cli):
    quiet = cli("scales", "--age", "4x")
    assert quiet.code == 2
    assert quiet.err.strip().splitlines() == [
        "pedpain: error: not an age: '4x' (write it like 30m, 4y, 4y6m, 3w or 10d)"
    ]
    loud = cli("--debug", "scales", "--age", "4x")
    assert loud.code == 2
    assert "Traceback" in loud.err


def test_json_output_is_one_document_and_nothing_else(cli):
    result = cli("scales", "--age", "4y", "--json")
    assert result.code == 0
    json.loads(result.out)  # the whole of stdout parses


def test_bad_config_file_is_usage_error(cli, tmp_path: Path):
    missing = cli("--config", str(tmp_path / "nope.yaml"), "scales")
    assert missing.code == 2 and "config file not found" in missing.err
    bad = tmp_path / "bad.yaml"
    bad.write_text("home: [unclosed\n", encoding="utf-8")
    result = cli("--config", str(bad), "scales")
    assert result.code == 2 and "not valid YAML" in result.err
    typo = tmp_path / "typo.yaml"
    typo.write_text("hoem: /x\n", encoding="utf-8")
    result = cli("--config", str(typo), "scales")
    assert result.code == 2 and "unknown setting 'hoem'" in result.err


def test_installed_console_script_runs():
    exe = Path(sys.executable).with_name("pedpain")
    assert exe.exists(), "the package must install a 'pedpain' console script"
    done = subprocess.run(
        [str(exe), "scales", "--age", "4y", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recommended"] == "FLACC"


def test_internal_error_is_exit_1_without_traceback(cli, monkeypatch):
    import pedpain.cli.scales as scales_cli

    def boom(_age: int):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(scales_cli, "scales_for_age", boom)
    result = cli("scales", "--age", "4y")
    assert result.code == 1
    assert "internal error (RuntimeError: simulated bug)" in result.err
    assert "Traceback" not in result.err


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """Every command pays the CLI's import: the evaluation (scikit-learn, SciPy,
    Matplotlib), training (PyTorch) and MediaPipe load only in the commands using them."""
    code = (
        "import sys; from pedpain.cli.main import run; "
        "print(' '.join(m for m in ('sklearn', 'matplotlib', 'scipy', 'torch', 'mediapipe') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
