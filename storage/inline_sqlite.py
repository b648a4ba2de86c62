"""SQLite connections that run their statements on the event loop's own thread.

aiosqlite runs every call of a connection (cursor, execute, fetch, close: about four per
statement) in a thread of its own and wakes the event loop for each result. A statement on a
local SQLite file takes microseconds, but under load each wake-up waits for a whole turn of a
busy event loop, so a turn of five statements spent most of its time waiting for its own
results -- while holding this process's one SQLite writer (handlers/outbox.one_writer). These
connections keep aiosqlite's interface (SQLAlchemy's aiosqlite dialect uses them unchanged) but
call sqlite3 directly.

What the thread did besides: SQLite's busy handler slept in it, not in the event loop. Here the
connection has no busy timeout of its own (busy_timeout=0): a statement that finds the database
locked by another process is retried after an asyncio sleep, with growing pauses, until
`busy_seconds` have passed -- the same patience as `PRAGMA busy_timeout`, without blocking the
event loop. BUSY_SNAPSHOT (a read transaction that another process's commit made stale) is not
retried: it cannot succeed, as with busy_timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import aiosqlite

# SQLITE_BUSY and SQLITE_BUSY_RECOVERY: another connection holds the lock for now.
RETRIED = frozenset({5, 5 | (1 << 8)})
FIRST_PAUSE, LONGEST_PAUSE = 0.001, 0.05


class _Inline:
    """Stands in for aiosqlite's queue to its thread: runs each call at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as problem:  # noqa: BLE001 - handed to the caller, as the thread does
            if future is not None and not future.done():
                future.set_exception(problem)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without a thread (see the module's docstring)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_seconds: float) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _Inline()  # type: ignore[assignment]
        self.busy_seconds = busy_seconds

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline = None
        pause = FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as problem:
                if getattr(problem, "sqlite_errorcode", None) not in RETRIED:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.busy_seconds
                if now >= deadline:
                    raise
                await asyncio.sleep(min(pause, deadline - now))
                pause = min(pause * 2, LONGEST_PAUSE)


def connector(database: str, busy_seconds: float) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect."""

    async def connect() -> InlineConnection:
        def open_() -> sqlite3.Connection:
            connection = sqlite3.connect(database, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout=0")
            return connection

        return await InlineConnection(open_, busy_seconds)

    return connect
