"""Long reads on a thread of their own: statistics and exports over a province never hold the
event loop.

The program's own SQLite connections run their statements on the event loop's thread
(storage/inline_sqlite.py: right for a turn's statements, which take microseconds), where a
GROUP BY over a million registrations stopped every webhook for a second or more -- and the
Python that follows it (tens of thousands of result rows made into a nagari table, a chart
drawn) held the loop about as long again. A read that scans a province is handed to
`LongReads.run` instead: `work(session)` runs in a thread with an event loop and a small engine
of its own (on SQLite: a read-only connection of its own, sqlite3 on that thread, with the same
busy retries; on PostgreSQL: two asyncpg connections, read-only), and the caller's event loop
only waits for its result. Everything `work` does -- the queries, making rows into figures,
drawing a chart -- happens there. One long read at a time on SQLite (the thread's loop waits for
each statement), which also keeps two scans from sharing the machine's cores with the webhooks.

The thread, its loop and its engine start with the first long read (most processes never make
one) and stop with `dispose`. A database only this process can see (SQLite in memory) has no
second connection: there `work` runs on an ordinary session, on the event loop, as before.

`work` must not use the caller's objects bound to its event loop (sessions, locks, futures): it
gets its own session, and may read what is shared and fixed (configuration, catalogs, the clock).

The thread still shares the interpreter's lock (the GIL) with the event loop for its Python
(rows made into figures, a chart drawn; sqlite3 and asyncpg release it while they wait). A
thread that wants the lock waits for the holder's switch interval (5 ms by default) every time
it takes it back -- and the event loop gives it up at every socket call and every SQLite
statement, so a webhook's answer paid that wait dozens of times while a long read ran (its p99
went from 50 to 270 ms over a million registrations). While a long read runs the interval is
SWITCH_INTERVAL (`sys.setswitchinterval`, the interpreter's own knob for this), then restored.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

Result = TypeVar("Result")
# The interpreter's switch interval while a long read runs (seconds; see the module's docstring).
SWITCH_INTERVAL = 0.001
Work = Callable[[AsyncSession], Awaitable[Result]]


class LongReads:
    """A thread with its own event loop and engine, made by `make_engine` on that thread (see
    the module's docstring)."""

    def __init__(self, make_engine: Callable[[], AsyncEngine]) -> None:
        self.make_engine = make_engine
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self.starting = threading.Lock()
        # Long reads under way, and the switch interval to restore when none is.
        self.running = 0
        self.interval = sys.getswitchinterval()

    def started(self) -> asyncio.AbstractEventLoop:
        """The thread's event loop (the thread started on first use)."""
        with self.starting:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="long-reads", daemon=True)
                thread.start()
                ready.wait()
                self.loop, self.thread = loop, thread
            return self.loop

    async def run(self, work: Work[Result]) -> Result:
        """`work(session)` on the thread, with a session of its own; its result (or its
        exception) here. Cancelling the caller cancels the work."""
        loop = self.started()
        if self.running == 0:
            self.interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self.interval, SWITCH_INTERVAL))
        self.running += 1
        try:
            future: Future[Result] = asyncio.run_coroutine_threadsafe(self.inside(work), loop)
            return await asyncio.wrap_future(future)
        finally:
            self.running -= 1
            if self.running == 0:
                sys.setswitchinterval(self.interval)

    async def inside(self, work: Work[Result]) -> Result:
        """On the thread's loop."""
        if self.sessions is None:
            self.engine = self.make_engine()
            self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        async with self.sessions() as session:
            return await work(session)

    async def dispose(self) -> None:
        """Close the engine's connections and stop the thread (it starts again if needed)."""
        with self.starting:
            loop, thread, engine = self.loop, self.thread, self.engine
            self.loop = self.thread = self.engine = self.sessions = None
        if loop is None or thread is None:
            return
        if engine is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(engine.dispose(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()


def read_only_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """A long read's SQLite connection may read only."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()
