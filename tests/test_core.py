from __future__ import annotations

import json
import logging

import pytest

from pedpain.core.files import atomic_write, atomic_write_text
from pedpain.core.logging import configure_logging, get_logger


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_write_unicode_path(tmp_path):
    target = tmp_path / "dossier été" / "résumé ✓.json"
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}"


def test_json_logs_go_to_stderr(capsys):
    configure_logging("info", "json")
    get_logger("test").info("stage finished", extra={"stage": "scales", "seconds": 1.5})
    captured = capsys.readouterr()
    assert captured.out == ""
    doc = json.loads(captured.err.strip().splitlines()[-1])
    assert doc["msg"] == "stage finished" and doc["stage"] == "scales" and doc["seconds"] == 1.5
    configure_logging("warning", "text")


def test_text_logs_have_key_values(capsys):
    configure_logging("info", "text")
    get_logger("pedpain.x").warning("slow", extra={"n": 3})
    err = capsys.readouterr().err
    assert "warning pedpain.x slow n=3" in err
    configure_logging("warning", "text")
    assert logging.getLogger("pedpain").level == logging.WARNING
