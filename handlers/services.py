"""What every use-case needs, built once by bot/app.py and passed in (never global)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conversations.i18n import Catalog
from conversations.rules import FlowRules
from conversations.wilayah import Wilayah
from handlers.clock import Clock
from storage.crypto import NikCipher
from storage.db import Database

if TYPE_CHECKING:
    from bot.config import AppConfig


class PersonLocks:
    """One person's messages are handled one after another (in-process; a shared lock for
    several processes plugs in with the same `hold` interface)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            # Pruned when nobody waits, so the dict does not grow with every person ever seen.
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


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
