"""Long reads (storage/long_reads.py, handlers/writer.long_read): statistics and exports run on
a thread of their own with connections of their own, the event loop keeps serving meanwhile,
and a turn that has written nothing yet lets this process's other writers through."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Text
from handlers.outbox import one_writer
from handlers.roles import grant
from handlers.router import dispatch
from handlers.services import Services
from handlers.writer import long_read
from storage import hot
from storage.models import Person

PERSON = Person.__table__


async def test_a_long_read_runs_on_a_thread_of_its_own_and_the_loop_keeps_running(any_svc: Services) -> None:
    loop_thread = threading.get_ident()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def work(session: AsyncSession) -> tuple[int, int]:
        count = (await session.execute(select(func.count()).select_from(PERSON))).scalar_one()
        time.sleep(0.2)  # a scan that takes a while, holding its own thread only
        return threading.get_ident(), count

    ticker = asyncio.create_task(tick())
    try:
        thread, count = await any_svc.db.long_read(work)
    finally:
        ticker.cancel()
    assert thread != loop_thread
    assert count == 0
    assert ticks > 10, "the event loop ran while the long read did"


async def test_a_long_read_sees_what_is_committed_may_not_write_and_hands_its_errors_back(any_svc: Services) -> None:
    async with any_svc.db.session() as session:
        await session.execute(insert(PERSON).values(channel_user="tg:1", created_at=any_svc.clock.now(),
                                                    opted_out=False, unreachable=False, failed_deliveries=0))
        await session.commit()

    async def count(session: AsyncSession) -> int:
        return (await session.execute(select(func.count()).select_from(PERSON))).scalar_one()

    async def write(session: AsyncSession) -> None:
        await session.execute(insert(PERSON).values(channel_user="tg:2", created_at=any_svc.clock.now(),
                                                    opted_out=False, unreachable=False, failed_deliveries=0))

    assert await any_svc.db.long_read(count) == 1
    with pytest.raises(Exception, match="(?i)read.only|readonly"):
        await any_svc.db.long_read(write)
    assert await any_svc.db.long_read(count) == 1


async def test_disposing_stops_the_thread(any_svc: Services) -> None:
    async def name(_: AsyncSession) -> str:
        return threading.current_thread().name

    assert await any_svc.db.long_read(name) == "long-reads"
    assert any(t.name == "long-reads" for t in threading.enumerate())
    await any_svc.db.dispose()
    assert not any(t.name == "long-reads" and t.is_alive() for t in threading.enumerate())


async def test_a_turn_that_wrote_nothing_sets_the_writer_aside_while_it_reads(svc: Services) -> None:
    """SQLite: another writer of this process gets through during the long read (it would wait
    for the whole read otherwise), and the turn has the writer back afterwards."""
    other_wrote = threading.Event()

    async def other_writer(who: str) -> None:
        async with one_writer(svc), svc.db.session() as session:
            await session.execute(insert(PERSON).values(channel_user=who, created_at=svc.clock.now(),
                                                        opted_out=False, unreachable=False, failed_deliveries=0))
            await session.commit()
        other_wrote.set()

    async def work(_: AsyncSession) -> bool:
        return await asyncio.to_thread(other_wrote.wait, 5)

    async with one_writer(svc):
        async with hot.Unit.open(svc.db.engine, svc.db.sessionmaker) as unit:
            other = asyncio.create_task(other_writer("tg:9"))
            assert await long_read(svc, work, unit.session), "the other writer waited for the long read"
            await other
            # The writer is held again: a third writer waits until this block ends.
            third = asyncio.create_task(other_writer("tg:10"))
            await asyncio.sleep(0.05)
            assert not third.done()
    await third


async def test_a_turn_that_wrote_keeps_the_writer_during_its_long_read(svc: Services) -> None:
    other_wrote = threading.Event()

    async def other_writer() -> None:
        async with one_writer(svc):
            other_wrote.set()

    async def work(_: AsyncSession) -> bool:
        # An asyncio timer, not a thread's timed wait: under libfaketime (CI's moved-clock run) a
        # timed threading wait sleeps until an absolute deadline the kernel never reaches.
        await asyncio.sleep(0.3)
        return other_wrote.is_set()

    async with one_writer(svc):
        async with hot.Unit.open(svc.db.engine, svc.db.sessionmaker) as unit:
            await unit.session.execute(insert(PERSON).values(
                channel_user="tg:8", created_at=svc.clock.now(), opted_out=False, unreachable=False,
                failed_deliveries=0))
            other = asyncio.create_task(other_writer())
            assert not await long_read(svc, work, unit.session)
        await asyncio.sleep(0)
    await other
    assert other_wrote.is_set()


async def test_statistics_are_read_and_drawn_off_the_event_loop(any_svc: Services) -> None:
    """/statistik's queries and charts run on the long-read thread: the loop's thread runs none
    of its SELECTs."""
    from sqlalchemy import event

    async with any_svc.db.session() as session:
        await grant(session, "tg:1", "admin", None, "test", any_svc.clock.now())
        await session.commit()
    on_loop: list[str] = []
    loop_thread = threading.get_ident()

    def statement(_conn, _cursor, sql: str, *_: object) -> None:  # type: ignore[no-untyped-def]
        if threading.get_ident() == loop_thread and "registration" in sql and "GROUP BY" in sql:
            on_loop.append(sql)

    event.listen(any_svc.db.engine.sync_engine, "before_cursor_execute", statement)
    try:
        out = await dispatch(any_svc, "tg:1", Text("/statistik"))
    finally:
        event.remove(any_svc.db.engine.sync_engine, "before_cursor_execute", statement)
    assert out and out[0].reply.key == "official.stats.text"
    assert not on_loop, on_loop
