"""Reminders through the simulator: each rule fires at the right simulated time, and only then.

The clock starts on Saturday 28-11-2026 10:00 WIB (tests/conftest.START). What people see is
the simulator's output; which message it was is read from the outbox (message keys).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from handlers.clock import LOCAL_TZ
from handlers.roles import grant
from handlers.services import Services
from storage.models import Registration
from storage.outbox import OutboxMessage
from tests.conftest import START, Chat, register
from tests.fake_platform import SimDriver


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


async def sent_keys(svc: Services, user: str) -> list[str]:
    async with svc.db.session() as session:
        rows = await session.execute(select(OutboxMessage.key).where(
            OutboxMessage.channel_user == user, OutboxMessage.state == "sent", OutboxMessage.kind != "reply")
            .order_by(OutboxMessage.sent_at))
        return list(rows.scalars().all())


async def enrol(svc: Services, reference: str, coverage_start: date) -> str:
    """What the nagari's operator and BPJS do (other features): the registration is enrolled."""
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == reference).values(
            status="enrolled", kpj="26001234567", coverage_start=coverage_start))
        nagari = (await session.execute(select(Registration.nagari_code).where(
            Registration.reference == reference))).scalar_one()
        await session.commit()
    return nagari


async def appoint_operator(svc: Services, user: str, nagari_code: str) -> None:
    async with svc.db.session() as session:
        await grant(session, user, "operator", nagari_code, "test", START)
        await session.commit()


async def registered(svc: Services, user: str = "tg:3001") -> tuple[str, str]:
    """A worker who registered at START; returns (reference, nagari code)."""
    reference = await register(Chat(svc, user))
    assert reference
    async with svc.db.session() as session:
        nagari = (await session.execute(select(Registration.nagari_code).where(
            Registration.reference == reference))).scalar_one()
    return reference, nagari


async def test_unfinished_registration_is_reminded_after_24_and_72_hours_then_never(any_svc: Services, clock) -> None:
    sim = SimDriver(any_svc, clock)
    await sim.say("tg:2001", "halo")
    await sim.tap("tg:2001", "lang:id")  # now at the consent question, and silent
    assert [m for m in await sim.clock(START + timedelta(hours=23, minutes=59)) if m["to"] == "tg:2001"] == []
    first = await sim.clock(START + timedelta(hours=24))
    assert [m["to"] for m in first] == ["tg:2001"]
    assert await sent_keys(any_svc, "tg:2001") == ["reminder.unfinished.first"]
    assert await sim.clock(START + timedelta(hours=30)) == []
    assert await sim.clock(START + timedelta(hours=71)) == []
    last = await sim.clock(START + timedelta(hours=72))
    assert [m["to"] for m in last] == ["tg:2001"]
    assert await sent_keys(any_svc, "tg:2001") == ["reminder.unfinished.first", "reminder.unfinished.last"]
    for hours in (80, 100, 200):
        assert await sim.clock(START + timedelta(hours=hours)) == []


async def test_reminders_wait_for_the_end_of_quiet_hours_and_a_person_who_came_back_is_not_reminded(
        svc: Services, clock) -> None:
    sim = SimDriver(svc, clock)
    evening = at(START.date(), 22, 30)
    await sim.clock(evening)
    await sim.say("tg:2002", "halo")
    await sim.tap("tg:2002", "lang:id")
    await sim.say("tg:2003", "halo")
    await sim.tap("tg:2003", "lang:id")
    # 24 h later it is 22:30 again: both reminders are queued, not sent (quiet 21:00-07:00).
    assert await sim.clock(evening + timedelta(hours=24)) == []
    assert await sim.clock(at(START.date() + timedelta(days=2), 6, 59)) == []
    # tg:2003 comes back at 06:59 and carries on: their reminder no longer applies.
    await sim.tap("tg:2003", "consent:yes")
    morning = await sim.clock(at(START.date() + timedelta(days=2), 7, 0))
    assert [m["to"] for m in morning] == ["tg:2002"]
    assert await sent_keys(svc, "tg:2003") == []


async def test_pending_registrations_digest_reaches_the_operator_at_eight_each_day(any_svc: Services, clock) -> None:
    _, nagari = await registered(any_svc)
    await appoint_operator(any_svc, "tg:7000", nagari)
    sim = SimDriver(any_svc, clock)
    tomorrow = START.date() + timedelta(days=1)
    assert [m for m in await sim.clock(at(tomorrow, 7, 59)) if m["to"] == "tg:7000"] == []
    digest = await sim.clock(at(tomorrow, 8, 0))
    assert [m["to"] for m in digest] == ["tg:7000"]
    assert "1" in digest[0]["text"]
    assert await sim.clock(at(tomorrow, 12, 0)) == []
    again = await sim.clock(at(tomorrow + timedelta(days=1), 8, 5))
    assert [m["to"] for m in again] == ["tg:7000"]
    assert await sent_keys(any_svc, "tg:7000") == ["reminder.pending_digest"] * 2


async def test_coverage_ending_is_told_30_and_7_days_before_the_funded_year_ends(any_svc: Services, clock) -> None:
    reference, _ = await registered(any_svc)
    await enrol(any_svc, reference, date(2026, 1, 10))  # funded until 10-01-2027
    sim = SimDriver(any_svc, clock)
    assert await sim.clock(at(date(2026, 12, 10), 9)) == []
    thirty = await sim.clock(at(date(2026, 12, 11), 8))
    assert [m["to"] for m in thirty] == ["tg:3001"] and "10-01-2027" in thirty[0]["text"]
    assert await sim.clock(at(date(2026, 12, 12), 8)) == []
    assert await sim.clock(at(date(2027, 1, 2), 8)) == []
    seven = await sim.clock(at(date(2027, 1, 3), 8))
    assert [m["to"] for m in seven] == ["tg:3001"]
    assert await sim.clock(at(date(2027, 1, 4), 8)) == []
    assert await sim.clock(at(date(2027, 1, 11), 8)) == []
    assert await sent_keys(any_svc, "tg:3001") == ["reminder.coverage_ending"] * 2


async def test_contribution_reminder_reaches_each_nagari_operator_monthly(any_svc: Services, clock) -> None:
    reference, nagari = await registered(any_svc)
    await enrol(any_svc, reference, date(2026, 11, 1))
    await appoint_operator(any_svc, "tg:7001", nagari)
    sim = SimDriver(any_svc, clock)
    assert [m for m in await sim.clock(at(date(2026, 12, 1), 7, 59)) if m["to"] == "tg:7001"] == []
    monthly = [m for m in await sim.clock(at(date(2026, 12, 1), 8)) if m["to"] == "tg:7001"]
    assert len(monthly) == 1 and "Rp 16.800" in monthly[0]["text"]
    assert [m for m in await sim.clock(at(date(2026, 12, 2), 8)) if m["to"] == "tg:7001"] == []
    assert [m for m in await sim.clock(at(date(2027, 1, 1), 8)) if m["to"] == "tg:7001"] != []
    assert await sent_keys(any_svc, "tg:7001") == ["reminder.contribution"] * 2
