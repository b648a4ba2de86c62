"""Telegram settings: the `telegram:` section of config.yaml (limits, validated at start) and the
environment (token and webhook secrets, which never go into config.yaml).

Defaults follow the Bot API's published limits (DOMAIN.md, "Platform limits"): about 30
messages per second across chats, about one per second in one chat.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_API_BASE = "https://api.telegram.org"
WEBHOOK_PATH = "/telegram/webhook"
# Field of TelegramEnv -> environment variable (error messages name the variable).
ENV_VARS = {
    "token": "TELEGRAM_BOT_TOKEN",
    "webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "webhook_url": "TELEGRAM_WEBHOOK_URL",
    "api_base": "TELEGRAM_API_BASE",
}


class TelegramConfig(BaseModel):
    """config.yaml `telegram:`: how the one Telegram sender paces and retries."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # ~30 messages/s across all chats; broadcasts above that get HTTP 429.
    messages_per_second: float = Field(default=30.0, gt=0)
    # ~1 message/s in one chat; a short burst (a reply and the next question) is tolerated.
    per_chat_interval_seconds: float = Field(default=1.0, ge=0.001)
    per_chat_burst: int = Field(default=3, ge=1)
    # Tries per API call on 429 and transient errors (network, 5xx) before giving up.
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=8.0, gt=0)
    # getUpdates long-poll timeout (Telegram holds the request open up to this long).
    poll_timeout_seconds: int = Field(default=30, ge=0, le=50)
    # Updates recorded but left unfinished (a drain that failed) are retried this often.
    recover_every_seconds: float = Field(default=60.0, gt=0)
    # Inline buttons go two per row when every title is at most this long, else one per row.
    two_per_row_max_chars: int = Field(default=16, ge=0)


class TelegramEnv(BaseModel):
    """The Telegram part of the environment (README: Configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str = Field(min_length=3)
    # Webhook mode when set; Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and -.
    webhook_secret: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,256}$")
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
            problems = "; ".join(f"{ENV_VARS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"Invalid Telegram environment: {problems}") from None

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_secret)
