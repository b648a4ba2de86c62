"""Prepared statements (storage/hot.py) on both databases: what they bind is what is stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select

from handlers.services import Services
from storage import hot
from storage.models import Person

PERSON = Person.__table__
NEW = hot.Prepared(insert(PERSON), ("channel_user", "created_at", "last_inbound_at", "opted_out",
                                    "failed_deliveries", "unreachable", "lang"))
START = datetime(2026, 12, 3, 9, 15, tzinfo=timezone.utc)
TIMES = hot.Prepared(select(PERSON.c.created_at, PERSON.c.last_inbound_at)
                     .where(PERSON.c.channel_user == bindparam("who")))


async def test_each_timestamp_is_bound_as_given_however_often_one_repeats(any_svc: Services) -> None:
    wib = timezone(timedelta(hours=7))
    first = datetime(2026, 12, 3, 9, 15, 0, 123456, tzinfo=wib)
    second = first + timedelta(seconds=1)
    same_instant = first.astimezone(timezone.utc)  # equal to `first`, another object
    # The same object twice in a row, then others, then the first again.
    cases = [("tg:1", first, first), ("tg:2", first, second), ("tg:3", second, same_instant),
             ("tg:4", same_instant, first), ("tg:5", first, first + timedelta(microseconds=1))]
    async with hot.Unit.open(any_svc.db.engine, any_svc.db.sessionmaker) as unit:
        for who, created, wrote in cases:
            await hot.execute(unit, NEW, {"channel_user": who, "created_at": created, "last_inbound_at": wrote,
                                          "opted_out": False, "failed_deliveries": 0, "unreachable": False,
                                          "lang": "id"})
        await unit.commit()
    for who, created, wrote in cases:
        (stored,) = await hot.read(any_svc.db.engine, TIMES, {"who": who})
        assert stored == (created, wrote), who


async def test_a_driver_error_comes_out_as_sqlalchemys_and_the_unit_rolls_back(any_svc: Services) -> None:
    """sqlite3's and asyncpg's errors, raised on the driver's connection, come out as the
    exceptions SQLAlchemy raises for them (here IntegrityError, parameters hidden); nothing of a
    unit that did not commit is kept."""
    from sqlalchemy.exc import IntegrityError

    values = {"created_at": START, "last_inbound_at": START, "opted_out": False, "failed_deliveries": 0,
              "unreachable": False, "lang": "id"}
    async with hot.Unit.open(any_svc.db.engine, any_svc.db.sessionmaker) as unit:
        await hot.execute(unit, NEW, {"channel_user": "tg:1", **values})
        with pytest.raises(IntegrityError) as raised:
            await hot.execute(unit, NEW, {"channel_user": "tg:1", **values})
    assert "tg:1" not in str(raised.value)
    assert await hot.read(any_svc.db.engine, TIMES, {"who": "tg:1"}) == []


async def test_a_units_writes_are_committed_once_whoever_began_the_transaction(any_svc: Services) -> None:
    """A unit's transaction is begun by its first write (sqlite3; on PostgreSQL SQLAlchemy's
    adapter) or by its ORM session; either way one commit keeps all of it."""
    values = {"created_at": START, "last_inbound_at": START, "opted_out": False, "failed_deliveries": 0,
              "unreachable": False, "lang": "id"}
    async with hot.Unit.open(any_svc.db.engine, any_svc.db.sessionmaker) as unit:
        await hot.execute(unit, NEW, {"channel_user": "tg:1", **values})
        unit.session.add(Person(channel_user="tg:2", created_at=START))
        await unit.commit()
    async with hot.Unit.open(any_svc.db.engine, any_svc.db.sessionmaker) as unit:
        unit.session.add(Person(channel_user="tg:3", created_at=START))
        await unit.session.flush()
        await hot.execute(unit, NEW, {"channel_user": "tg:4", **values})
        await unit.commit()
    for who in ("tg:1", "tg:2", "tg:3", "tg:4"):
        assert len(await hot.read(any_svc.db.engine, TIMES, {"who": who})) == 1, who

