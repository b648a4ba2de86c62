"""SQLite connections that run their statements on the event loop's own thread.

aiosqlite runs every call of a connection (cursor, execute, fetch, close: about four per
statement) in a thread of its own and wakes the event loop for each result. A statement on a
local SQLite file takes microseconds, but under load each wake-up waits for a whole turn of a
busy event loop, so a turn of five statements spent most of its time waiting for its own
results -- while holding this process's one SQLite writer (handlers/outbox.one_writer).
`InlineConnection` offers the asynchronous interface of an aiosqlite connection (the one
SQLAlchemy's aiosqlite dialect talks to: cursor, execute, fetch, commit, rollback, close,
create_function, stop) and calls sqlite3 directly. It is a class of its own, not a subclass of
aiosqlite's: aiosqlite has no public way to run a call on the caller's thread, and overriding
its private queue and runner was what an aiosqlite release could break without notice.

What the thread did besides: SQLite's busy handler slept in it, not in the event loop. Here the
connection has no busy timeout of its own (busy_timeout=0): a statement that finds the database
locked by another process is retried after an asyncio sleep, with growing pauses, until
`busy_seconds` have passed -- the same patience as `PRAGMA busy_timeout`, without blocking the
event loop. BUSY_SNAPSHOT (a read transaction that another process's commit made stale) is not
retried: it cannot succeed, as with busy_timeout.

Only short statements belong here: the event loop waits for each one. A read that scans a
province (statistics, exports) goes through `storage/db.Database.reader`, whose connections are
aiosqlite's own, in threads.

storage/hot.py runs the turn's statements on `database` through `call`, with the same retries.

Checkpoints: SQLite copies the write-ahead log back into the database file (a checkpoint) from
inside the commit that finds the log over 1,000 pages -- on the event loop's thread, here, some
4 ms with its fsyncs, once in every hundred turns or so, while every other person waits.
These connections turn that off (`PRAGMA wal_autocheckpoint=0`, set by storage/db.py), and
`Checkpoints` runs the checkpoint on a worker thread instead, after every `CHECKPOINT_EVERY`
commits that wrote: a PASSIVE one, which never waits for and never blocks the writer or the
readers. The log is restarted from its beginning by the first commit after a checkpoint that
copied all of it, so it stays the size of a hundred commits.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

# SQLITE_BUSY and SQLITE_BUSY_RECOVERY: another connection holds the lock for now.
RETRIED = frozenset({5, 5 | (1 << 8)})
FIRST_PAUSE, LONGEST_PAUSE = 0.001, 0.05
# Rows per step when a cursor is iterated (aiosqlite's own default).
CHUNK = 64

# Commits that wrote between two checkpoints (each a few pages of the log).
CHECKPOINT_EVERY = 100

Result = TypeVar("Result")
log = logging.getLogger(__name__)


class Checkpoints:
    """The WAL checkpoints of one database file, on a worker thread (see the module's docstring):
    `committed()` after each commit that wrote; every `every` of them, one checkpoint starts
    unless one is still running."""

    def __init__(self, path: str, every: int = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.every = every
        self.commits = 0
        self.running: asyncio.Future[None] | None = None

    def committed(self) -> None:
        self.commits += 1
        if self.commits >= self.every and (self.running is None or self.running.done()):
            self.commits = 0
            self.running = asyncio.get_running_loop().run_in_executor(None, self.checkpoint)

    def checkpoint(self) -> None:
        """One PASSIVE checkpoint, on a connection of its own (in the worker thread)."""
        try:
            connection = sqlite3.connect(self.path, check_same_thread=False)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except sqlite3.Error as problem:  # the next one will try again
            log.warning("SQLite checkpoint failed: %s", type(problem).__name__)


class InlineConnection:
    """An SQLite connection with aiosqlite's asynchronous interface, without a thread (see the
    module's docstring). `database` is the sqlite3 connection (None once closed)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_seconds: float,
                 checkpoints: Checkpoints | None = None) -> None:
        self.connector = connector
        self.busy_seconds = busy_seconds
        self.checkpoints = checkpoints
        self.database: sqlite3.Connection | None = None

    def __await__(self) -> Any:
        return self.open().__await__()

    async def open(self) -> InlineConnection:
        self.database = self.connector()
        return self

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """The sqlite3 connection under aiosqlite's name for it: SQLAlchemy's aiosqlite adapter
        reads this attribute of the connection it wraps, before a commit or a rollback, to know
        whether it is still open. Nothing of ours uses it (`database` is the public name)."""
        return self.database

    def open_database(self) -> sqlite3.Connection:
        if self.database is None:
            # As aiosqlite says it; SQLAlchemy's aiosqlite dialect reads it as a disconnect.
            raise ValueError("Connection closed")
        return self.database

    async def call(self, function: Callable[..., Result], *args: Any) -> Result:
        """`function(*args)` at once, on this thread; again after a pause while another
        process holds the database's lock, until `busy_seconds` have passed."""
        self.open_database()
        deadline = None
        pause = FIRST_PAUSE
        while True:
            try:
                return function(*args)
            except sqlite3.OperationalError as problem:
                if getattr(problem, "sqlite_errorcode", None) not in RETRIED:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.busy_seconds
                if now >= deadline:
                    raise
                await asyncio.sleep(min(pause, deadline - now))
                pause = min(pause * 2, LONGEST_PAUSE)

    # -- aiosqlite's interface, as SQLAlchemy's aiosqlite dialect uses it ------------------------
    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self.open_database().cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        cursor = self.cursor()
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        database = self.open_database()
        wrote = database.in_transaction
        await self.call(database.commit)
        if wrote and self.checkpoints is not None:
            self.checkpoints.committed()

    async def rollback(self) -> None:
        await self.call(self.open_database().rollback)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now (SQLAlchemy's terminate); closing twice does nothing."""
        database, self.database = self.database, None
        if database is not None:
            database.close()

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any],
                              deterministic: bool = False) -> None:
        self.open_database().create_function(name, num_params, func, deterministic=deterministic)

    @property
    def in_transaction(self) -> bool:
        """A transaction is open (sqlite3 begins one before the first write)."""
        return self.database is not None and self.database.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self.open_database().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self.open_database().isolation_level = value


class InlineCursor:
    """An sqlite3 cursor with aiosqlite's asynchronous interface (each call through the
    connection's busy retries)."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self.connection = connection
        self.cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.rows()

    async def rows(self) -> AsyncIterator[Any]:
        while True:
            chunk = await self.fetchmany(CHUNK)
            if not chunk:
                return
            for row in chunk:
                yield row

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await self.connection.call(self.cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        await self.connection.call(self.cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return await self.connection.call(self.cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return await self.connection.call(self.cursor.fetchmany, size if size is not None else self.cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return await self.connection.call(self.cursor.fetchall)

    async def close(self) -> None:
        self.cursor.close()

    @property
    def description(self) -> Any:
        return self.cursor.description

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self.cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self.cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self.cursor.arraysize = value


def connector(database: str, busy_seconds: float) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect; its connections share one
    `Checkpoints` (storage/db.py turns SQLite's own checkpoints off on them)."""
    checkpoints = Checkpoints(database)

    async def connect() -> InlineConnection:
        def open_() -> sqlite3.Connection:
            connection = sqlite3.connect(database, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout=0")
            return connection

        return await InlineConnection(open_, busy_seconds, checkpoints)

    return connect
