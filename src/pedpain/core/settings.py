"""Settings: command-line flag > ``PEDPAIN_<NAME>`` environment variable > YAML config > default.

``PEDPAIN_HOME`` is the data root (database, media, models, runs); default ``./pedpain-data``.
The YAML file holds the same names as keys, e.g.::

    home: /data/pedpain
    log_level: info
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pedpain.core.errors import UsageError

ENV_PREFIX = "PEDPAIN_"
CONFIG_ENV = "PEDPAIN_CONFIG"

LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseSettings):
    """Everything a command may be configured with. Add fields here, not ad-hoc env reads."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    home: Path = Field(default=Path("pedpain-data"), description="data root")
    log_level: LogLevel = Field(default="warning", description="stderr log threshold")
    log_format: Literal["text", "json"] = Field(default="text", description="stderr log format")
    debug: bool = Field(default=False, description="show tracebacks for errors")
    workers: int = Field(default=1, ge=1, le=256, description="parallel worker processes")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the research database; default SQLite in home"
    )
    key_file: Path | None = Field(default=None, description="media encryption key file (base64)")
    media_key: SecretStr | None = Field(default=None, description="media key, base64 (env only)")
    web_secure_cookies: bool | None = Field(
        default=None, description="Secure flag on web cookies; default on unless localhost"
    )
    web_idle_minutes: float = Field(default=15, gt=0, description="web sign-out after idle")
    web_max_upload_mb: float = Field(default=200, gt=0, description="largest web upload (MB)")
    web_login_backoff_s: float = Field(default=1, ge=0, description="first login lock (s)")
    study_validation_phase: bool = Field(
        default=True, description="nurses enter the BPS before the AI score is shown"
    )
    web_forwarded_allow_ips: str = Field(
        default="",
        description="reverse proxies (comma-separated addresses/networks) whose "
        "X-Forwarded-For/-Proto are trusted; empty: none",
    )
    model: Path | None = Field(default=None, description="model folder for assess and serve")
    study_target_children: int = Field(
        default=500, ge=1, description="children the prospective cohort plans to validate"
    )
    study_noninferiority_auc: float = Field(
        default=0.05, ge=0, lt=0.5, description="largest AUC loss a challenger may show (margin)"
    )
    study_noninferiority_mae: float = Field(
        default=0.5, ge=0, le=10, description="largest MAE increase (0-10) a challenger may show"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = InitSettingsSource(settings_cls, init_kwargs=dict(cls._yaml_values))
        return (init_settings, env_settings, yaml_source)

    # Values read from the YAML file; set on a per-call subclass by load_settings.
    _yaml_values: ClassVar[dict[str, Any]] = {}


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML settings file; a clear UsageError for anything that is not a mapping."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"config file is not UTF-8 text: {p}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"config file is not valid YAML{where}: {p}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file must hold a mapping of settings, not a list or value: {p}")
    return {str(k): v for k, v in data.items()}


def load_settings(config: str | os.PathLike[str] | None = None, **flags: Any) -> Settings:
    """Build Settings from flags (None means 'not given'), environment, config file, defaults.

    ``config`` falls back to ``$PEDPAIN_CONFIG`` when not given.
    """
    if config is None and os.environ.get(CONFIG_ENV):
        config = os.environ[CONFIG_ENV]
    yaml_values = read_config_file(config) if config is not None else {}
    given = {k: v for k, v in flags.items() if v is not None}
    configured = type("ConfiguredSettings", (Settings,), {"_yaml_values": yaml_values})
    try:
        return configured(**given)
    except ValidationError as exc:
        raise UsageError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ())) or "settings"
    msg = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        return f"unknown setting '{loc}' (check the config file for a typo)"
    return f"invalid setting '{loc}': {msg}"
