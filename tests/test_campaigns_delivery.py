"""The outbox against a fake platform over real HTTP: failures, retries, rate limits.

Rates are measured with the fake server's own clock (when each request arrived).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.worker import run_worker
from handlers.outbox import DeliveryRules, NewMessage, delivery_rules, drain, enqueue
from handlers.services import Services
from storage.models import Person
from storage.outbox import OutboxMessage
from tests.conftest import START, Chat
from tests.fake_platform import FakePlatform, HttpSender


@pytest.fixture
async def platform(svc: Services) -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    url = await fake.start()
    sender = HttpSender("tg", url)
    svc.senders["tg"] = sender
    yield fake
    await sender.close()
    await fake.stop()


async def notify(svc: Services, users: list[str], kind: str = "transactional", key: str = "status.pending") -> None:
    async with svc.db.session() as session:
        await enqueue(session, [NewMessage(u, key, f"pesan untuk {u}", kind) for u in users],
                      svc.clock.now(), delivery_rules(svc))
        await session.commit()


async def row_states(svc: Services, user: str) -> list[tuple[str, str | None]]:
    """The notices queued for `user` (not the replies to what they wrote), oldest first."""
    async with svc.db.session() as session:
        rows = await session.execute(select(OutboxMessage.state, OutboxMessage.reason)
                                     .where(OutboxMessage.channel_user == user, OutboxMessage.kind != "reply")
                                     .order_by(OutboxMessage.id))
        return [(state, (reason or "").split(":")[0] or None) for state, reason in rows.all()]


async def failures_of(svc: Services, user: str) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(Person.failed_deliveries).where(Person.channel_user == user))).scalar_one()


async def test_after_five_failed_deliveries_nobody_is_messaged_until_they_write(
        svc: Services, platform: FakePlatform, clock) -> None:
    person = Chat(svc, "tg:8001")
    await person("halo")  # answered through the platform too
    platform.refused.add("tg:8001")
    for _ in range(5):
        await notify(svc, ["tg:8001"])
        await drain(svc)
    assert await failures_of(svc, "tg:8001") == 5
    platform.refused.clear()
    await notify(svc, ["tg:8001"])
    await drain(svc)
    assert (await row_states(svc, "tg:8001"))[-1] == ("skipped", "failing")
    assert platform.per_person()["tg:8001"] == 1  # only the reply to "halo", before the failures
    await person("halo")  # they write (and are answered): the count starts again
    assert await failures_of(svc, "tg:8001") == 0
    await notify(svc, ["tg:8001"])
    await drain(svc)
    assert platform.per_person()["tg:8001"] == 3


async def test_transient_errors_are_retried_with_backoff_and_blocked_people_are_recorded(
        svc: Services, platform: FakePlatform, clock) -> None:
    for user in ("tg:8002", "tg:8003"):
        await Chat(svc, user)("halo")
    platform.flaky.add("tg:8002")
    platform.blocked.add("tg:8003")
    await notify(svc, ["tg:8002", "tg:8003"])
    await drain(svc)
    assert await row_states(svc, "tg:8002") == [("queued", "retry")]
    assert await row_states(svc, "tg:8003") == [("failed", "unreachable")]
    clock.advance(timedelta(seconds=29))
    await drain(svc)
    assert platform.per_person()["tg:8002"] == 1  # the reply to "halo"; backoff: 30 s before the retry
    clock.advance(timedelta(seconds=2))
    await drain(svc)
    assert platform.per_person()["tg:8002"] == 2
    assert await row_states(svc, "tg:8002") == [("sent", None)]


async def test_quiet_hours_defer_to_seven_and_drop_nothing(svc: Services, platform: FakePlatform, clock) -> None:
    clock.set(START.replace(hour=21, minute=30))
    await notify(svc, ["tg:8010", "tg:8011"], kind="reminder", key="reminder.pending_digest")
    assert await drain(svc) == []
    async with svc.db.session() as session:
        waiting = (await session.execute(select(OutboxMessage.not_before))).scalars().all()
    assert {w.astimezone(START.tzinfo).strftime("%d %H:%M") for w in waiting} == {"29 07:00"}
    clock.set(START.replace(day=29, hour=6, minute=59))
    assert await drain(svc) == []
    clock.set(START.replace(day=29, hour=7, minute=0))
    assert sorted(o.state for o in await drain(svc)) == ["sent", "sent"]


async def test_the_worker_keeps_to_the_channel_rate_on_the_platforms_clock(
        svc: Services, platform: FakePlatform) -> None:
    limit = 40
    svc.config.delivery = DeliveryRules(batch_size=20, poll_seconds=0.05)
    # The channel's one pacing is its sender's (as the Telegram and WhatsApp senders do): the
    # worker sends its batches concurrently, and none of them may pass the sender's gate.
    svc.senders["tg"] = paced = HttpSender("tg", platform.url, svc.config.delivery.share(limit))
    users = [f"tg:{9000 + n}" for n in range(150)]
    await notify(svc, users)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(svc, "rate-test", stop, scheduler=False))
    for _ in range(200):
        if len(platform.received) >= len(users):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await worker
    await paced.close()
    assert sorted(platform.per_person()) == users
    assert platform.max_per_second("tg") <= limit
