from __future__ import annotations

from pathlib import Path

import pytest

from pedpain.core.errors import UsageError
from pedpain.core.settings import load_settings


def test_defaults():
    s = load_settings()
    assert s.home == Path("pedpain-data")
    assert s.log_level == "warning"


def test_precedence_flag_over_env_over_config_over_default(tmp_path, monkeypatch):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("home: /from/config\nlog_level: error\nworkers: 3\n", encoding="utf-8")

    s = load_settings(cfg)
    assert (s.home, s.log_level, s.workers) == (Path("/from/config"), "error", 3)

    monkeypatch.setenv("PEDPAIN_HOME", "/from/env")
    s = load_settings(cfg)
    assert (s.home, s.log_level) == (Path("/from/env"), "error")

    s = load_settings(cfg, home=Path("/from/flag"), log_level=None)
    assert (s.home, s.log_level, s.workers) == (Path("/from/flag"), "error", 3)


def test_config_path_from_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("workers: 5\n", encoding="utf-8")
    monkeypatch.setenv("PEDPAIN_CONFIG", str(cfg))
    assert load_settings().workers == 5


def test_empty_config_file_means_defaults(tmp_path):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("", encoding="utf-8")
    assert load_settings(cfg).workers == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a\n- b\n", "must hold a mapping"),
        ("workers: many\n", "invalid setting 'workers'"),
        ("workers: 0\n", "invalid setting 'workers'"),
        ("log_level: loud\n", "invalid setting 'log_level'"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_settings(cfg)


def test_bad_env_value_is_usage_error(monkeypatch):
    monkeypatch.setenv("PEDPAIN_WORKERS", "-2")
    with pytest.raises(UsageError, match="workers"):
        load_settings()


def test_non_utf8_config(tmp_path):
    cfg = tmp_path / "latin.yaml"
    cfg.write_bytes(b"home: /caf\xe9\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_settings(cfg)
