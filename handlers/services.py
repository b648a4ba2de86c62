"""What every use-case needs, built once by bot/app.py and passed in (never global)."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conversations.i18n import Catalog
from conversations.links import LinkTargets
from conversations.rules import FlowRules
from conversations.wilayah import Wilayah
from handlers.clock import Clock
from handlers.health import ContactLog
from handlers.locks import PersonLocks
from storage.crypto import NikCipher
from storage.db import Database



TURN_CLAIM = "turn:"


def process_name() -> str:
    """Who claims outbox rows: host, pid and a token, unique even when a container restarts
    with the same pid (with the "turn:" prefix at most 40 characters: OutboxMessage.claimed_by)."""
    return f"{socket.gethostname()[:16]}:{os.getpid()}:{secrets.token_hex(3)}"


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
    # This process's name on the outbox rows it claims (a turn's replies, a worker's batch).
    process: str = field(default_factory=process_name)
    # Group commits (handlers/batching.py) of this process: recording updates (handlers/ingest.py)
    # and marking messages sent (handlers/outbox.py); made on first use.
    recorder: Any = None
    sent_marks: Any = None
    # Updates this process recorded and has not handled yet, per person: (row id, update key,
    # payload as received). The person's drain takes them instead of reading and decrypting
    # the inbox again; each turn checks that its update is the person's oldest unhandled one
    # (handlers/ingest.py), so a hint can only save a read, never change the order.
    fresh: dict[str, list[tuple[int, str, dict[str, Any]]]] = field(default_factory=dict)
    # Called, after the commit, by a turn that changed someone's roles or an official's language
    # (the Telegram channel wakes its command-menu keeper, bot/telegram/menus.py); never awaited.
    officials_changed: list[Callable[[], None]] = field(default_factory=list)

    @property
    def turn_claimer(self) -> str:
        """The name on a turn's own messages, which this process sends under the person's lock
        (handlers/outbox.take_over tells them from a worker's claims)."""
        return TURN_CLAIM + self.process
    # Each channel's last contact with its platform (/healthz).
    contacts: ContactLog = field(default_factory=ContactLog)
    # Where recruitment links lead (TELEGRAM_BOT_USERNAME, WHATSAPP_DISPLAY_NUMBER): /tautan.
    link_targets: LinkTargets = field(default_factory=LinkTargets)
    # The dashboard's public address (DASHBOARD_URL): the start of /dasbor's login links; "": not served.
    dashboard_url: str = ""
