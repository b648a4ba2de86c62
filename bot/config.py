"""Configuration: config.yaml (the deployment) plus the environment (secrets).

One loader for the whole program. Everything is validated at start; a wrong value stops the
program with a message naming the key and what is wrong (ConfigError).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from conversations import links

# The settings models live below handlers/ (the use-cases type against them); re-exported here
# so that `from bot.config import AppConfig` keeps working.
from handlers.settings import (  # noqa: F401
    PROJECT_ROOT,
    AppConfig,
    DataFiles,
    Regency,
    RenderLimits,
    TelegramConfig,
    WhatsAppConfig,
)

DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"


class ConfigError(SystemExit):
    """Raised for an invalid configuration; exits with the message."""


def _describe(error: ValidationError, source: Path | str) -> str:
    """One line naming every wrong key: `Invalid configuration in config.yaml: reminder: unknown key`."""
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = "unknown key (not a setting of this section)" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{key}: {message}")
    return f"Invalid configuration in {source}: " + "; ".join(problems)


def load_config(path: Path | str | None = None) -> AppConfig:
    """Read and validate config.yaml; raise ConfigError naming the wrong key."""
    source = Path(path) if path else Path(os.environ.get("BOT_CONFIG", DEFAULT_CONFIG))
    try:
        raw: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Configuration file not found: {source} (BOT_CONFIG or --config)") from None
    except IsADirectoryError:
        raise ConfigError(f"Configuration file {source} is a directory (BOT_CONFIG or --config)") from None
    except PermissionError:
        raise ConfigError(f"Configuration file {source} cannot be read: permission denied") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"Configuration file {source} is not valid YAML{at}: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Configuration file {source} must be a mapping of sections")
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    for file in (config.data.wilayah_csv, config.data.crosswalk_csv):
        if file is not None and not config.resolve(file).exists():
            raise ConfigError(f"Invalid configuration in {source}: data: file not found: {file}")
    return config


# Field of Environment -> environment variable (error messages name the variable).
ENV_VARS = {
    "database_url": "DATABASE_URL",
    "secret_key": "BOT_SECRET_KEY",
    "secret_key_file": "BOT_SECRET_KEY_FILE",
    "log_level": "LOG_LEVEL",
    "log_format": "LOG_FORMAT",
    "redis_url": "REDIS_URL",
    "host": "HOST",
    "port": "PORT",
    "telegram_bot_username": "TELEGRAM_BOT_USERNAME",
    "whatsapp_display_number": "WHATSAPP_DISPLAY_NUMBER",
    "dashboard_url": "DASHBOARD_URL",
}


class Environment(BaseModel):
    """Secrets and deployment switches, from the process environment (and .env)."""

    model_config = ConfigDict(extra="ignore")
    database_url: str = ""
    secret_key: str = ""
    secret_key_file: Path = PROJECT_ROOT / "var" / "secret.key"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # "text" (one line per record, for a terminal or journald) or "json" (one object per line).
    log_format: Literal["text", "json"] = "text"
    redis_url: str = ""
    # Bind address of the web server: 127.0.0.1 behind a reverse proxy on the same host,
    # 0.0.0.0 in a container.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Where recruitment links lead (conversations/links.py): the bot's @username (t.me links)
    # and the business number people see (wa.me links). Not secrets, but of the deployment,
    # like the tokens beside them; without them `links` and /tautan make only what they can.
    telegram_bot_username: str = ""
    whatsapp_display_number: str = ""
    # The dashboard's public address as officials' browsers reach it (https://bot.example.go.id),
    # through the reverse proxy: the one-time login links of /dasbor start with it (docs/dashboard.md).
    dashboard_url: str = ""

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("an http:// or https:// address without query, e.g. https://bot.example.go.id")
        return value

    @field_validator("telegram_bot_username")
    @classmethod
    def _username(cls, value: str) -> str:
        return links.telegram_username(value) if value.strip() else ""

    @field_validator("whatsapp_display_number")
    @classmethod
    def _number(cls, value: str) -> str:
        return links.whatsapp_number(value) if value.strip() else ""

    @property
    def link_targets(self) -> links.LinkTargets:
        return links.LinkTargets(self.telegram_bot_username or None, self.whatsapp_display_number or None)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if value.upper() in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else value.lower()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Environment":
        source = os.environ if env is None else env
        values: dict[str, Any] = {field: source[var] for field, var in ENV_VARS.items() if source.get(var)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{ENV_VARS.get(str(e['loc'][0]), e['loc'][0])} ({e['loc'][0]}): {e['msg']}"
                                 for e in exc.errors())
            raise ConfigError(f"Invalid environment: {problems}") from None


ENV_FILE_VARIABLE = "BOT_ENV_FILE"


def load_dotenv_file(env_file: str | Path | None = None) -> Path | None:
    """Read the environment file: `env_file` (--env-file), else BOT_ENV_FILE, else .env in the
    project root if present; real environment variables win. Returns the file read, if any.

    The service reads its file through systemd (EnvironmentFile=) or compose (env_file:); a
    command given the same file acts on the same database with the same key, which is the point
    of naming it. A named file must exist, and must not be readable by every user (it holds the
    key and the tokens): ConfigError naming it, in one line."""
    from dotenv import load_dotenv

    named = env_file or os.environ.get(ENV_FILE_VARIABLE) or None
    if named is None:
        default = PROJECT_ROOT / ".env"
        if default.is_file():
            load_dotenv(default, override=False)
            return default
        return None
    path = Path(named).expanduser()
    try:
        mode = path.stat().st_mode
        if not path.is_file():
            raise IsADirectoryError("not a file")
        with path.open("rb"):
            pass
    except OSError as problem:
        raise ConfigError(f"Cannot read the environment file {path} (--env-file or {ENV_FILE_VARIABLE}): "
                          f"{problem.strerror or problem}") from None
    if mode & 0o007:
        raise ConfigError(f"The environment file {path} (--env-file or {ENV_FILE_VARIABLE}) can be read by every "
                          f"user: it holds the key and the tokens; run chmod 640 {path} (or 600)")
    load_dotenv(path, override=False)
    return path
