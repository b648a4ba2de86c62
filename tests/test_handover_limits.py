"""Help-desk limits: a worker opens at most `limits.tickets_per_day` tickets a day, and their
text inside a ticket reaches the officials at most once a minute (`limits.ticket_push_seconds`),
the messages in between in one push with their count. Nothing they wrote is lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from handlers.services import Services
from storage.tickets import Ticket, TicketMessage
from tests.fake_platform import SimDriver
from tests.officials_support import OPERATOR
from tests.test_handover import ASK, BACK, WORKER, officials_in, tickets, to, walk


async def count(svc: Services, model: Any) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_open_and_close_cycles_stop_at_the_daily_limit(any_svc: Services, clock: Any) -> None:
    await officials_in(any_svc, "id")
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, "id", "Koto Tuo")
    limit = any_svc.config.limits.tickets_per_day
    pushed = 0
    for _ in range(30):
        out = await sim.say(WORKER, ASK["id"])
        pushed += len(to(out, OPERATOR))
        await sim.say(WORKER, BACK["id"])
        clock.advance(timedelta(minutes=1))
    assert await count(any_svc, Ticket) == limit
    assert pushed == limit
    out = await sim.say(WORKER, ASK["id"])
    assert to(out, OPERATOR) == [] and "besok" in to(out, WORKER)[-1]["text"]
    # The next day the worker may ask again.
    await sim.clock(clock.now() + timedelta(days=1))
    out = await sim.say(WORKER, ASK["id"])
    assert to(out, OPERATOR) and await count(any_svc, Ticket) == limit + 1


async def test_a_hundred_messages_in_a_ticket_come_in_pushes_of_one_a_minute(any_svc: Services, clock: Any) -> None:
    await officials_in(any_svc, "id")
    sim = SimDriver(any_svc, clock)
    await walk(sim, WORKER, "id", "Koto Tuo")
    await sim.say(WORKER, ASK["id"])
    (ticket,) = await tickets(any_svc)
    pushes: list[str] = []
    for n in range(100):
        out = await sim.say(WORKER, f"pesan nomor {n}")
        pushes += [m["text"] for m in to(out, OPERATOR)]
        clock.advance(timedelta(seconds=1))  # 100 messages in 100 seconds
    # The first message went at once; within the minute the rest were collected.
    assert len(pushes) == 2, pushes
    assert "pesan nomor 0" in pushes[0]
    assert "(60 pesan)" in pushes[1] and "pesan nomor 1\n" in pushes[1] and "pesan nomor 60" in pushes[1]
    # The scheduler pushes what waits once the minute is over: one push, with its count.
    out = await sim.clock(clock.now() + timedelta(minutes=2))
    last = [m["text"] for m in to(out, OPERATOR)]
    assert len(last) == 1 and "(39 pesan)" in last[0] and "pesan nomor 99" in last[0]
    assert to(await sim.clock(clock.now() + timedelta(minutes=3)), OPERATOR) == []  # nothing waits any more
    # Every message is kept in the ticket.
    assert await count(any_svc, TicketMessage) >= 100
    async with any_svc.db.session() as session:
        left = (await session.execute(select(Ticket.unpushed).where(Ticket.id == ticket.id))).scalar_one()
    assert left == 0
