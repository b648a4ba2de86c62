"""Across 31 December to 1 January, on purpose: one nagari's registrations, approvals, waiting
list, quota, reminders and export, walked with the injected clock from the last evening of the
budget year 2026 into the first day of 2027.

What the nagari must see: before midnight the old year's quota (full, one worker waiting); after
midnight the new year's quota, with the old year's participants counted as carried over, the
waiting worker placed in a freed place, the reminder of an unfinished registration still sent,
and the export listing the workers continuing from the old year beside the new one.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from sqlalchemy import select

from handlers import quota
from handlers.export import BOM, export_csv
from handlers.services import Services
from storage.models import Registration
from tests.conftest import Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, MUARO, OPERATOR, add_officials, add_registrations, nik
from tests.test_reminders_rules import at, sent_keys


async def usage(svc: Services, year: int) -> dict[str, Any]:
    async with svc.db.session() as session:
        return await quota.usage(session, svc.config.officials.quota, MUARO, year)


async def statuses(svc: Services, references: list[str]) -> list[str]:
    async with svc.db.session() as session:
        found = dict((await session.execute(select(Registration.reference, Registration.status).where(
            Registration.reference.in_(references)))).all())
    return [found[r] for r in references]


async def exported_niks(svc: Services) -> list[str]:
    out = io.StringIO(newline="")
    await export_csv(svc, out)
    return sorted(row["NIK"] for row in csv.DictReader(io.StringIO(out.getvalue().removeprefix(BOM), newline="")))


async def test_a_nagari_walks_from_one_budget_year_into_the_next(any_svc: Services, clock: Any) -> None:
    svc = any_svc
    sim = SimDriver(svc, clock)
    await sim.clock(at(date(2026, 12, 31), 9))
    await add_officials(svc)
    admin, operator = Chat(svc, ADMIN), Chat(svc, OPERATOR)
    await admin("/kuota Muaro 2")  # the year the clock is in: 2026
    await admin("/kuota Muaro 3 2027")
    assert (await usage(svc, 2026))["limit"] == 2 and (await usage(svc, 2027))["limit"] == 3

    # 31 December: three workers wait; two places are left in 2026, the third goes on the list.
    old = await add_registrations(svc, 3, channel_prefix="tg:7")
    for reference in old:
        await operator(f"/setujui {reference}")
    assert operator.keys == ["official.approve.waiting"]
    assert await statuses(svc, old) == ["approved", "approved", "waiting"]
    before = await usage(svc, 2026)
    assert (before["used"], before["limit"]) == (2, 2)
    await operator("/kuota")
    assert operator.keys == ["official.quota.view"] and "2026" in operator.text and "2027" not in operator.text
    assert await exported_niks(svc) == [nik(1), nik(2)]

    # A worker starts the form late on 31 December and leaves it unfinished.
    await sim.clock(at(date(2026, 12, 31), 21))
    late = "tg:7100"
    await sim.say(late, "halo")
    await sim.tap(late, "lang:id")  # at the consent question, and silent
    assert "reminder.unfinished" not in " ".join(await sent_keys(svc, late))

    # Midnight: 2027 begins. Its quota counts the two continuing workers as carried over, and the
    # one place left goes to the waiting worker.
    await sim.clock(at(date(2027, 1, 1), 0, 5))
    assert await statuses(svc, old) == ["approved", "approved", "approved"]
    after = await usage(svc, 2027)
    assert (after["used"], after["carried"], after["limit"], after["waiting"]) == (3, 2, 3, ())
    # The closed year is not rewritten by the new one.
    assert (await usage(svc, 2026))["used"] == 2
    await operator("/kuota")
    assert operator.keys == ["official.quota.view"] and "2027" in operator.text

    # The unfinished registration is still reminded after the boundary: due 24 hours later, at
    # 21:00 on 1 January, in quiet hours, so it goes out at 07:00 on 2 January.
    await sim.clock(at(date(2027, 1, 1), 21))
    assert await sent_keys(svc, late) == []
    await sim.clock(at(date(2027, 1, 2), 7))
    assert any(key.startswith("reminder.unfinished") for key in await sent_keys(svc, late))

    # A newcomer in 2027 meets the new year's full quota and waits.
    (newcomer,) = await add_registrations(svc, 1, start=50, channel_prefix="tg:7")
    await operator(f"/setujui {newcomer}")
    assert operator.keys == ["official.approve.waiting"]
    assert await statuses(svc, [newcomer]) == ["waiting"]

    # The export for BPJS lists the continuing workers with the one placed in the new year.
    assert await exported_niks(svc) == [nik(1), nik(2), nik(3)]
