"""Quota under concurrency: two operators approving at 99/100 at the same moment produce
exactly one approval and one waiting-list entry, on SQLite and PostgreSQL, in one process and
from two separate Services (two processes' worth of connections) on the same database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from conversations.events import Text
from handlers.clock import FixedClock
from handlers.quota import budget_year
from handlers.roles import grant
from handlers.router import dispatch
from handlers.services import Services
from storage.models import Registration
from storage.officials_extra import NagariQuota
from tests.conftest import make_services
from tests.officials_support import MUARO, OPERATOR, add_officials, add_registrations

SECOND_OPERATOR = "wa:6281299990000"


async def at_99_of_100(svc: Services) -> tuple[str, str]:
    """Muaro with 99 approved this year and two pending registrations; a second operator."""
    await add_officials(svc)
    async with svc.db.session() as session:
        await grant(session, SECOND_OPERATOR, "operator", MUARO, "test", svc.clock.now())
        await session.commit()
    await add_registrations(svc, 99, status="approved", start=1)
    async with svc.db.session() as session:
        # The nagari-year's row exists already (earlier decisions): only its lock serialises.
        session.add(NagariQuota(nagari_code=MUARO, year=budget_year(svc.clock.now())))
        await session.commit()
    first, second = await add_registrations(svc, 2, start=200)
    return first, second


async def statuses(svc: Services) -> dict[str, int]:
    async with svc.db.session() as session:
        rows = await session.execute(select(Registration.status, func.count()).group_by(Registration.status))
        return dict(rows.all())


async def test_two_operators_at_99_of_100(any_svc) -> None:
    first, second = await at_99_of_100(any_svc)
    out_a, out_b = await asyncio.gather(
        dispatch(any_svc, OPERATOR, Text(f"/setujui {first}")),
        dispatch(any_svc, SECOND_OPERATOR, Text(f"/approve {second}")))
    keys = sorted([out_a[0].reply.key, out_b[0].reply.key])
    assert keys == ["official.approve.done", "official.approve.waiting"]
    assert await statuses(any_svc) == {"approved": 100, "waiting": 1}


async def test_same_registration_approved_twice_at_once(any_svc) -> None:
    first, _ = await at_99_of_100(any_svc)
    outs = await asyncio.gather(dispatch(any_svc, OPERATOR, Text(f"/setujui {first}")),
                                dispatch(any_svc, SECOND_OPERATOR, Text(f"/setujui {first}")))
    assert sorted(o[0].reply.key for o in outs) == ["official.approve.done", "official.decide.already"]
    assert await statuses(any_svc) == {"approved": 100, "pending": 1}


async def test_two_services_on_one_postgres_database(postgres_url: str, clock: FixedClock, tmp_path: Path) -> None:
    one = await make_services(postgres_url, clock, tmp_path)
    two = await make_services(postgres_url, clock, tmp_path)
    try:
        first, second = await at_99_of_100(one)
        outs = await asyncio.gather(dispatch(one, OPERATOR, Text(f"/setujui {first}")),
                                    dispatch(two, SECOND_OPERATOR, Text(f"/setujui {second}")))
        assert sorted(o[0].reply.key for o in outs) == ["official.approve.done", "official.approve.waiting"]
        # At 100/100, two more at once: both wait, in two distinct places of the list.
        third, fourth = await add_registrations(one, 2, start=300)
        outs = await asyncio.gather(dispatch(one, OPERATOR, Text(f"/setujui {third}")),
                                    dispatch(two, SECOND_OPERATOR, Text(f"/setujui {fourth}")))
        assert [o[0].reply.key for o in outs] == ["official.approve.waiting"] * 2
        assert await statuses(one) == {"approved": 100, "waiting": 3}
    finally:
        await one.db.dispose()
        await two.db.dispose()
