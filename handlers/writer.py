"""This process's one SQLite writer, and the long reads that set it aside.

SQLite allows one writer at a time: this process's writes take their turn at one lock
(`one_writer`, keyed SQLITE_WRITER in `svc.locks`) instead of colliding in the database; busy
retries are for other processes. A turn holds it from start to commit -- which costs nothing
while a turn is a few statements that never wait, but a turn that runs a long read (an
official's /statistik over a province, an export) would hold every webhook's answer
(handlers/ingest.accept records under the same lock) for as long as the read takes.

`long_read` runs such a read on the database's long-read thread (storage/long_reads.py) and,
when the turn holding the writer has written nothing yet, sets the writer aside meanwhile: the
turn's connection holds no SQLite lock then (sqlite3 begins a transaction at the first write),
so others may write, and the turn takes the writer back before it goes on. A turn that already
wrote keeps it (its transaction holds SQLite's write lock anyway).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.services import Services
from storage import hot
from storage.long_reads import Result, Work

# The lock key under which this process's writes to an SQLite database take turns.
SQLITE_WRITER = "sqlite:writer"


class Writer:
    """`one_writer` on SQLite: the writer lock, held by the task that entered it, which
    `long_read` may set aside for a while (see the module's docstring)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.held: AbstractAsyncContextManager[Any] | None = None
        self.token: Any = None

    async def take(self) -> None:
        hold = self.svc.locks.hold(SQLITE_WRITER)
        await hold.__aenter__()
        self.held = hold

    async def give_back(self) -> None:
        hold, self.held = self.held, None
        if hold is not None:
            await hold.__aexit__(None, None, None)

    async def __aenter__(self) -> None:
        await self.take()
        self.token = HOLDING.set(self)

    async def __aexit__(self, kind: type[BaseException] | None, problem: BaseException | None,
                        trace: TracebackType | None) -> None:
        HOLDING.reset(self.token)
        await self.give_back()


# The writer the current task holds, if any (set by `Writer`, read by `long_read`).
HOLDING: ContextVar[Writer | None] = ContextVar("sqlite_writer", default=None)


def one_writer(svc: Services) -> AbstractAsyncContextManager[None]:
    """SQLite allows one writer at a time: this process's writes take their turn here instead of
    colliding in the database (busy retries are for other processes)."""
    return Writer(svc) if svc.db.is_sqlite else nullcontext()


async def long_read(svc: Services, work: Work[Result], session: AsyncSession | None = None) -> Result:
    """`work(session)` on the database's long-read thread (storage/db.Database.long_read), with
    a session of its own; `session`: the caller's, when it runs inside a turn (the writer it
    holds is set aside while the read runs if that session has written nothing yet)."""
    writer = HOLDING.get()
    if writer is None or writer.held is None or session is None or await hot.writing(session):
        return await svc.db.long_read(work)
    await writer.give_back()
    try:
        return await svc.db.long_read(work)
    finally:
        await writer.take()
