"""One sender floods a channel; everyone else is answered as before.

Through the real webhooks (signed WhatsApp bodies, Telegram's secret header) and the real
senders with the platforms' own pacing for one person (WhatsApp: one message per 6 s after a
burst; Telegram: about one a second per chat), on SQLite and on PostgreSQL:
1. ten people each write twice, alone: how long each waited for its answer (the baseline);
2. one number posts 2,000 messages as fast as the webhook takes them, and while it does, ten
   other people each write twice: each answer may come no later than the baseline's 95th
   percentile plus 2 s;
3. the flooder's backlog is bounded: beyond `limits.backlog_max` waiting, the rest is set aside
   with one log line, and the flooder is told once to slow down.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from handlers.services import Services
from storage.inbox import InboundUpdate
from storage.outbox import OutboxMessage
from tests.fake_graph import message, whatsapp_harness
from tests.fake_telegram import SECRET, FakeTelegram, fast_limits, running_bot

pytestmark = pytest.mark.slow
FLOOD = 2000
PEOPLE = 10


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


async def conversations(people: list[Any], post: Callable[[Any, int], Awaitable[None]],
                        answers: Callable[[Any], int]) -> list[float]:
    """Each person writes twice (a greeting, then the language button), each time waiting for
    an answer; the seconds each waited."""

    async def one(person: Any) -> list[float]:
        times = []
        for n in range(2):
            before, start = answers(person), time.monotonic()
            await post(person, n)
            while answers(person) <= before and time.monotonic() - start < 60:
                await asyncio.sleep(0.01)
            times.append(time.monotonic() - start)
        return times

    return [t for times in await asyncio.gather(*(one(p) for p in people)) for t in times]


async def set_aside(svc: Services, channel_user: str) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(func.count()).select_from(InboundUpdate).where(
            InboundUpdate.channel_user == channel_user, InboundUpdate.set_aside_reason.is_not(None)))).scalar_one()


async def bounded(svc: Services, channel_user: str) -> None:
    """The flooder's backlog is cut down to the limit within the next paced turn (6 s)."""
    cap = svc.config.limits.backlog_max
    for _ in range(150):
        if await set_aside(svc, channel_user) >= FLOOD - 3 * cap:
            return
        await asyncio.sleep(0.1)
    assert await set_aside(svc, channel_user) >= FLOOD - 3 * cap


async def told_to_slow_down(svc: Services, channel_user: str) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.channel_user == channel_user, OutboxMessage.key == "limits.backlog"))).scalar_one()


def backlog_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "set aside: more than" in r.getMessage()]


async def test_a_whatsapp_flood_does_not_slow_anyone_else(any_svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with whatsapp_harness(any_svc, pair_interval_seconds=6.0, pair_burst=20) as wa:
        async def post(wa_id: str, n: int) -> None:
            body = message(text="halo", wa_id=wa_id) if n == 0 else message("button_reply", choice="lang:id",
                                                                            wa_id=wa_id)
            assert (await wa.meta.post(body)).status == 200

        def answers(wa_id: str) -> int:
            return len(wa.graph.to(wa_id))

        baseline = await conversations([f"62812000001{n:02d}" for n in range(PEOPLE)], post, answers)
        assert max(baseline) < 60

        flooder = "6281299999999"

        async def flood() -> None:
            for start in range(0, FLOOD, 100):
                bodies = [message(text=f"tolong {n}", wa_id=flooder) for n in range(start, start + 100)]
                statuses = await asyncio.gather(*(wa.meta.post(b) for b in bodies))
                assert all(s.status == 200 for s in statuses)

        flooding = asyncio.create_task(flood())
        await asyncio.sleep(0.2)  # the flood is under way
        during = await conversations([f"62812000002{n:02d}" for n in range(PEOPLE)], post, answers)
        await flooding
        print(f"\nWhatsApp flood: others' p95 {p95(during):.2f} s (no flood {p95(baseline):.2f} s)")
        assert p95(during) <= p95(baseline) + 2.0, (sorted(during), p95(baseline))

        user = f"wa:{flooder}"
        await bounded(any_svc, user)
        assert await told_to_slow_down(any_svc, user) == 1
        assert len(backlog_lines(caplog)) == 1


async def test_a_telegram_flood_does_not_slow_anyone_else(any_svc: Services, fake: FakeTelegram,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    limits = fast_limits(per_chat_interval_seconds=1.0, per_chat_burst=3, messages_per_second=30)
    async with running_bot(any_svc, fake, webhook=True, config=limits) as bot:
        async def post(person: Any, n: int) -> None:
            update = person.text_update("halo") if n == 0 else person.tap_update("lang:id")
            assert await person.post(update, SECRET) == 200

        def answers(person: Any) -> int:
            return len(fake.sent(chat_id=person.user_id))

        baseline = await conversations([bot.person(user_id=700001000 + n) for n in range(PEOPLE)], post, answers)
        assert max(baseline) < 60

        flooder = bot.person(user_id=700009999)

        async def flood() -> None:
            for start in range(0, FLOOD, 100):
                statuses = await asyncio.gather(*(flooder.post(flooder.text_update(f"tolong {n}"), SECRET)
                                                  for n in range(start, start + 100)))
                assert all(s == 200 for s in statuses)

        flooding = asyncio.create_task(flood())
        await asyncio.sleep(0.2)
        during = await conversations([bot.person(user_id=700002000 + n) for n in range(PEOPLE)], post, answers)
        await flooding
        print(f"\nTelegram flood: others' p95 {p95(during):.2f} s (no flood {p95(baseline):.2f} s)")
        assert p95(during) <= p95(baseline) + 2.0, (sorted(during), p95(baseline))

        user = f"tg:{flooder.user_id}"
        await bounded(any_svc, user)
        assert await told_to_slow_down(any_svc, user) == 1
        assert len(backlog_lines(caplog)) == 1
