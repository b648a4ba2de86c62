"""Configuration: config.yaml (the deployment) plus the environment (secrets).

One loader for the whole program. Everything is validated at start; a wrong value stops the
program with a message naming the key and what is wrong (ConfigError).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.whatsapp.config import WhatsAppConfig
from bot.telegram.settings import TelegramConfig
from conversations.campaign_compose import CampaignContent
from handlers.outbox import DeliveryRules
from handlers.reminders import ReminderRules
from conversations.officials import OfficialsRules
from conversations.rules import (
    AgeLimits,
    Category,
    ContributionRule,
    ContributionTable,
    ConversationRules,
    FlowRules,
    HelpContacts,
    ProgrammeRules,
    funded_base_problem,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"


class ConfigError(SystemExit):
    """Raised for an invalid configuration; exits with the message."""


class Regency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kemendagri_code: str = Field(pattern=r"^\d{2}\.\d{2}$")
    nik_prefix: str = Field(pattern=r"^\d{4}$")
    programme: str
    target_workers: int = Field(gt=0)
    vulnerable_workers: int = Field(gt=0)


class DataFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wilayah_csv: Path
    crosswalk_csv: Path | None = None


class AppConfig(BaseModel):
    """The whole of config.yaml. Sections added by later features use `extra="allow"` blocks."""

    model_config = ConfigDict(extra="allow")
    regency: Regency
    data: DataFiles
    languages: list[str] = Field(min_length=1)
    default_language: str
    consent_version: str = Field(min_length=1)
    retention_years: int = Field(ge=1, le=30)
    data_protection_officer: str = Field(min_length=3)
    age: AgeLimits = AgeLimits()
    categories: list[Category] = Field(min_length=2)
    contributions: list[ContributionRule] = Field(min_length=1)
    income_choices: list[int] = Field(min_length=1, max_length=9)
    conversation: ConversationRules = ConversationRules()
    help: HelpContacts
    whatsapp: WhatsAppConfig = WhatsAppConfig()
    telegram: TelegramConfig = TelegramConfig()
    # Issue 6 (campaigns, reminders, the outbox worker): optional, with defaults.
    campaigns: CampaignContent | None = None
    reminders: ReminderRules = ReminderRules()
    delivery: DeliveryRules = DeliveryRules()
    # Issue 5 (nagari officials): quotas, invitations, digests, exports; optional, with defaults.
    officials: OfficialsRules = OfficialsRules()
    # The programme's own rules: funded contribution base (dated), continuation, escalation.
    programme: ProgrammeRules = ProgrammeRules()

    @model_validator(mode="after")
    def _consistent(self) -> "AppConfig":
        unknown = set(self.languages) - {"id", "en"}
        if unknown:
            raise ValueError(f"languages: no message catalog for {sorted(unknown)}")
        if self.default_language not in self.languages:
            raise ValueError("default_language must be one of languages")
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError("categories: two categories have the same id")
        if "lainnya" not in ids:
            raise ValueError("categories: the 'lainnya' (other) category is required")
        if self.regency.nik_prefix != self.regency.kemendagri_code.replace(".", ""):
            raise ValueError("regency.nik_prefix must be kemendagri_code without the dot")
        problem = funded_base_problem(self.programme, ContributionTable(rules=tuple(self.contributions)))
        if problem:
            raise ValueError(problem)
        return self

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else PROJECT_ROOT / path

    def flow_rules(self) -> FlowRules:
        return FlowRules(
            nik_prefix=self.regency.nik_prefix,
            languages=tuple(self.languages),
            default_language=self.default_language,
            consent_version=self.consent_version,
            retention_years=self.retention_years,
            data_protection_officer=self.data_protection_officer,
            age=self.age,
            categories=tuple(self.categories),
            contributions=ContributionTable(rules=tuple(self.contributions)),
            income_choices=tuple(self.income_choices),
            conversation=self.conversation,
            help=self.help,
            programme=self.programme,
        )


def _describe(error: ValidationError, source: Path) -> str:
    lines = [f"Invalid configuration in {source}:"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def load_config(path: Path | str | None = None) -> AppConfig:
    """Read and validate config.yaml; raise ConfigError naming the wrong key."""
    source = Path(path) if path else Path(os.environ.get("BOT_CONFIG", DEFAULT_CONFIG))
    try:
        raw: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Configuration file not found: {source}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Configuration file {source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Configuration file {source} must be a mapping of sections")
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    for file in (config.data.wilayah_csv, config.data.crosswalk_csv):
        if file is not None and not config.resolve(file).exists():
            raise ConfigError(f"Invalid configuration in {source}:\n  data: file not found: {file}")
    return config


class Environment(BaseModel):
    """Secrets and deployment switches, from the process environment (and .env)."""

    model_config = ConfigDict(extra="ignore")
    database_url: str = ""
    secret_key: str = ""
    secret_key_file: Path = PROJECT_ROOT / "var" / "secret.key"
    log_level: str = "INFO"
    redis_url: str = ""
    port: int = 8080

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Environment":
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field, var in (
            ("database_url", "DATABASE_URL"),
            ("secret_key", "BOT_SECRET_KEY"),
            ("secret_key_file", "BOT_SECRET_KEY_FILE"),
            ("log_level", "LOG_LEVEL"),
            ("redis_url", "REDIS_URL"),
            ("port", "PORT"),
        ):
            if source.get(var):
                values[field] = source[var]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, Path("environment"))) from None


def load_dotenv_file() -> None:
    """Read .env from the project root if present; real environment variables win."""
    from dotenv import load_dotenv

    load_dotenv(PROJECT_ROOT / ".env", override=False)
