"""Telegram settings: the environment (token and webhook secrets, which never go into
config.yaml); the `telegram:` section of config.yaml (limits) is `TelegramConfig` in
handlers/settings.py, re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The config.yaml section lives with the other settings models (handlers/settings.py).
from handlers.settings import TelegramConfig  # noqa: F401  (re-exported)

DEFAULT_API_BASE = "https://api.telegram.org"
WEBHOOK_PATH = "/telegram/webhook"
# Field of TelegramEnv -> environment variable (error messages name the variable).
ENV_VARS = {
    "token": "TELEGRAM_BOT_TOKEN",
    "webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "webhook_url": "TELEGRAM_WEBHOOK_URL",
    "api_base": "TELEGRAM_API_BASE",
}


def explain(error: Mapping[str, object]) -> str:
    if error.get("loc") == ("webhook_secret",):
        return "use 16 to 256 characters A-Z, a-z, 0-9, _ and - (e.g. from `openssl rand -hex 32`)"
    return str(error.get("msg"))


class TelegramEnv(BaseModel):
    """The Telegram part of the environment (README: Configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str = Field(min_length=3)
    # Webhook mode when set; Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and -. This
    # project asks for at least 16 (WEBHOOK_SECRET_MIN): a short secret can be guessed.
    webhook_secret: str = Field(default="", pattern=r"^(|[A-Za-z0-9_-]{16,256})$")
    # Public HTTPS URL registered with setWebhook at start (optional: set it by hand otherwise).
    webhook_url: str = ""
    api_base: str = DEFAULT_API_BASE

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "TelegramEnv":
        from bot.config import ConfigError

        values = {field: environ[var] for field, var in ENV_VARS.items() if environ.get(var)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{ENV_VARS.get(str(e['loc'][0]), e['loc'][0])}: {explain(e)}" for e in exc.errors())
            raise ConfigError(f"Invalid Telegram environment: {problems}") from None

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_secret)
