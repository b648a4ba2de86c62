"""The budget year (APB Nagari = the calendar year): participants still covered carry over into
the new year's quota; in December each operator gets the continuation list and may end some
before 1 January; whoever is not ended continues and counts; freed places of the new year go
to the waiting list at the roll-over."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from handlers import quota
from handlers.services import Services
from storage.models import Registration
from tests.conftest import Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, MUARO, OPERATOR, add_officials, add_registrations
from tests.test_programme_withdrawal import set_lang
from tests.test_reminders_rules import at, sent_keys


async def status_of(svc: Services, reference: str) -> str:
    async with svc.db.session() as session:
        return (await session.execute(select(Registration.status).where(
            Registration.reference == reference))).scalar_one()


async def usage(svc: Services, year: int) -> dict[str, Any]:
    async with svc.db.session() as session:
        return await quota.usage(session, svc.config.officials.quota, MUARO, year)


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_participants_carry_over_unless_ended_in_december(any_svc: Services, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, OPERATOR, lang)
    operator, admin = Chat(any_svc, OPERATOR), Chat(any_svc, ADMIN)
    await admin("/kuota Muaro 3")
    await admin("/kuota Muaro 3 2027")
    people = await add_registrations(any_svc, 4, channel_prefix="tg:6")
    for reference in people:
        await operator(f"/setujui {reference}")
    assert operator.keys == ["official.approve.waiting"]
    first, second, third, waiting = people
    assert (await usage(any_svc, 2026))["used"] == 3
    # Counted in the coming year already: nobody has been ended.
    assert (await usage(any_svc, 2027))["used"] == 3

    sim = SimDriver(any_svc, clock)
    out = [m for m in await sim.clock(at(date(2026, 12, 1), 8)) if m["to"] == OPERATOR]
    lists = [m for m in out if all(r in m["text"] for r in (first, second, third))]
    assert len(lists) == 1 and waiting not in lists[0]["text"] and "2027" in lists[0]["text"]
    assert "programme.continuation.list" in await sent_keys(any_svc, OPERATOR)
    # The list comes once.
    await sim.clock(at(date(2026, 12, 1), 9))
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.continuation.list") == 1

    await operator(f"/akhiri {first}")
    assert operator.keys == ["official.usage.end"]
    await operator(f"/{'akhiri' if lang == 'id' else 'discontinue'} {first} pindah ke luar kabupaten")
    assert operator.keys == ["official.end.done"] and "31-12-2026" in operator.text
    assert [o.reply.key for o in operator.others] == ["official.worker.ending"]
    # Still covered this year, not next year.
    assert (await usage(any_svc, 2026))["used"] == 3
    assert (await usage(any_svc, 2027))["used"] == 2
    # Ending someone who is not a participant changes nothing.
    await operator(f"/akhiri {waiting} salah")
    assert operator.keys == ["official.withdraw.not_participant"]

    # The new year: the ended participant leaves, the freed place goes to the waiting list.
    await sim.clock(at(date(2027, 1, 1), 0, 5))
    assert await status_of(any_svc, first) == "ended"
    assert await status_of(any_svc, waiting) == "approved"
    out = await sim.clock(at(date(2027, 1, 2), 8))
    told = [m for m in out if m["to"] == "tg:600004"]
    assert len(told) == 1 and waiting in told[0]["text"]

    # On 5 January the quota shows the carried-over participants as used.
    await sim.clock(at(date(2027, 1, 5), 9))
    await operator("/kuota")
    assert operator.keys == ["official.quota.view"]
    view = await usage(any_svc, 2027)
    assert (view["used"], view["carried"], view["limit"], view["waiting"]) == (3, 2, 3, ())
    assert "2027" in operator.text and "3" in operator.text


async def test_a_year_without_endings_keeps_everyone(any_svc: Services, clock: Any) -> None:
    """Reported: on 2027-01-05 a nagari whose 100 workers were approved in December 2026 showed
    0 of 100 used."""
    await add_officials(any_svc)
    await add_registrations(any_svc, 100, status="approved")
    sim = SimDriver(any_svc, clock)
    await sim.clock(at(date(2027, 1, 5), 9))
    operator = Chat(any_svc, OPERATOR)
    await operator("/kuota")
    view = await usage(any_svc, 2027)
    assert (view["used"], view["carried"], view["limit"]) == (100, 100, 100)
    (newcomer,) = await add_registrations(any_svc, 1, start=500)
    await operator(f"/setujui {newcomer}")
    assert operator.keys == ["official.approve.waiting"]
