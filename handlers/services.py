"""What every use-case needs, built once by bot/app.py and passed in (never global)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conversations.i18n import Catalog
from conversations.rules import FlowRules
from conversations.wilayah import Wilayah
from handlers.clock import Clock
from handlers.health import ContactLog
from handlers.locks import PersonLocks
from storage.crypto import NikCipher
from storage.db import Database

if TYPE_CHECKING:
    from handlers.settings import AppConfig


@dataclass
class Services:
    config: "AppConfig"
    rules: FlowRules
    catalog: Catalog
    wilayah: Wilayah
    db: Database
    cipher: NikCipher
    clock: Clock
    locks: Any = field(default_factory=PersonLocks)
    # Hooks run by `run_due` (scheduler ticks): later features (reminders, campaigns) add theirs.
    due_jobs: list[Any] = field(default_factory=list)
    # One sender per channel ("tg", "wa"): see handlers/delivery.py.
    senders: dict[str, Any] = field(default_factory=dict)
    # Each channel's last contact with its platform (/healthz).
    contacts: ContactLog = field(default_factory=ContactLog)
