"""Figures kept for a minute, and kept warm while someone uses them.

Counting a million registrations takes the database up to a second (docs/dashboard.md,
"Speed"), and nobody needs the figures fresher than a minute. So a page's figures, per page and
scope, are kept for `ttl` seconds; and while anyone has opened them within `keep_warm` (a working
day), `keep_warm_loop` counts them again in the background shortly before they expire. An
official then never waits for the counting, except for the first look at a page after a quiet
day (or after a restart).

Concurrent requests for the same figures wait for one computation (no stampede of identical
GROUP BYs when several officials open the dashboard after a meeting). A failed computation is
not kept. Time is the event loop's monotonic clock: the figures' age, not the programme's
(possibly fixed) clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Entries kept at most: one per page and scope (62 nagari x a few pages is well below).
MAX_ENTRIES = 1000
# How often the background loop looks for figures about to expire.
TICK_SECONDS = 5.0


@dataclass
class Entry:
    at: float  # when the figures were counted
    value: Any
    compute: Callable[[], Awaitable[Any]]
    used: float  # when a request last asked for them


class FigureCache:
    def __init__(self, ttl: float = 60.0, keep_warm: float = 8 * 3600.0) -> None:
        self.ttl = ttl
        self.keep_warm = keep_warm
        # Counted again this long before they would expire (within a minute: a quarter of it).
        self.ahead = min(15.0, ttl / 4)
        self._entries: dict[Hashable, Entry] = {}
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        now = asyncio.get_running_loop().time()
        entry = self._entries.get(key)
        if entry is not None and now - entry.at < self.ttl:
            entry.used = now
            return entry.value
        return await self._count(key, compute, now)

    async def _count(self, key: Hashable, compute: Callable[[], Awaitable[Any]], used: float) -> Any:
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[key] = future
        try:
            value = await compute()
        except BaseException as problem:
            if isinstance(problem, Exception):
                future.set_exception(problem)
                future.exception()  # marked retrieved: the waiters get it, nobody else need
            else:
                future.cancel()
            raise
        else:
            future.set_result(value)
            if self.ttl > 0:
                if key not in self._entries and len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = Entry(loop.time(), value, compute, used)
            return value
        finally:
            del self._pending[key]

    async def refresh_due(self) -> int:
        """Count again, one after another, the figures used lately that are about to expire;
        forget those nobody used for `keep_warm`. Returns how many were counted."""
        now = asyncio.get_running_loop().time()
        counted = 0
        for key, entry in list(self._entries.items()):
            if now - entry.used > self.keep_warm:
                del self._entries[key]
            elif now - entry.at >= self.ttl - self.ahead:
                try:
                    await self._count(key, entry.compute, entry.used)
                    counted += 1
                except Exception:  # noqa: BLE001 - the next request counts them itself
                    log.exception("dashboard: counting figures in the background failed")
        return counted

    async def keep_warm_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.refresh_due()

    def clear(self) -> None:
        self._entries.clear()
