"""The outbox worker stopping: it finishes the batch in flight when it can, and when the grace
runs out (the platform hangs) it is cancelled and puts its claimed messages back in the queue at
once, instead of leaving them to a lease that expires minutes later."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.worker import run_worker
from conversations.events import Reply
from handlers.delivery import DeliveryResult, Priority
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.services import Services
from handlers.shutdown import finish_within
from storage.outbox import OutboxMessage


class GateSender:
    """A sender whose platform answers only when `open` is set."""

    channel = "tg"

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.started = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult:
        self.started.set()
        await self.open.wait()
        self.sent.append(to)
        return DeliveryResult(ok=True, message_id=str(len(self.sent)))


async def queue(svc: Services, count: int) -> None:
    async with svc.db.session() as session:
        await enqueue(session, [NewMessage(f"tg:{9000 + n}", "status.pending", "pesan") for n in range(count)],
                      svc.clock.now(), delivery_rules(svc))
        await session.commit()


async def states(svc: Services) -> dict[str, int]:
    async with svc.db.session() as session:
        return dict((await session.execute(select(OutboxMessage.state, func.count())
                                           .group_by(OutboxMessage.state))).all())


async def test_a_stopped_worker_finishes_its_batch(svc: Services) -> None:
    sender = GateSender()
    svc.senders["tg"] = sender
    await queue(svc, 5)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(svc, "w", stop, scheduler=False))
    await sender.started.wait()
    stop.set()
    sender.open.set()
    assert await finish_within(worker, 5)
    assert worker.result() == 5
    assert await states(svc) == {"sent": 5}


async def test_a_worker_out_of_grace_puts_its_claims_back(svc: Services) -> None:
    sender = GateSender()  # never opens
    svc.senders["tg"] = sender
    await queue(svc, 5)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(svc, "w", stop, scheduler=False))
    await sender.started.wait()
    assert await states(svc) == {"sending": 5}
    stop.set()
    assert not await finish_within(worker, 0.2)
    assert worker.cancelled()
    assert await states(svc) == {"queued": 5}
    async with svc.db.session() as session:
        holders = set((await session.execute(select(OutboxMessage.claimed_by))).scalars().all())
    assert holders == {None}
