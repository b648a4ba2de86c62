"""The quota of a nagari per budget year (Satu Nagari 100 Pekerja Rentan: 100 workers each).

Counting, not a counter: a nagari-year's use is the number of its participants who are
covered in that year: approved, enrolled (or waiting to be withdrawn at BPJS after a deletion
request), decided before the year's end and not ended before its start. So participants of
earlier years carry over into the new year's quota until the nagari ends them (the December
continuation list, handlers/programme.py, sets `ends_at` to the next 1 January). The waiting
list is the nagari's `waiting` registrations in the order they were put there. Nothing can
drift: a withdrawal, an erasure or a move to another nagari stops counting at once, and
`promote` fills the freed slot at the next decision, quota view or change.

Concurrency (two officials approving at 99/100 at the same moment): every decision of a nagari
first runs `UPDATE nagari_quota SET version = version + 1` on the nagari-year's row, in the
transaction that then counts and decides.
- PostgreSQL: the UPDATE takes the row lock (as SELECT ... FOR UPDATE would); the second
  transaction waits until the first commits, and its later statements (READ COMMITTED: a new
  snapshot per statement) count the first one's approval.
- SQLite: the UPDATE is the transaction's first write, so the driver's deferred BEGIN acquires
  the database's single write lock there (waiting up to busy_timeout); no read of the same
  transaction came before it (pysqlite reads outside a transaction until the first write), so
  there is no stale snapshot, and everything after it sees the committed state.
Both therefore serialise deciders per nagari-year and never approve beyond the quota.
Callers must make `lock` the first write of their transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import QuotaRules
from handlers.clock import LOCAL_TZ
from storage.models import Registration
from storage.officials_extra import NagariQuota

# Statuses that occupy a slot of the nagari's budget: a participant whose deletion was asked
# is still paid for until the operator has withdrawn them at BPJS (/tarik).
COUNTED = ("approved", "enrolled", "deletion_requested")


def budget_year(now: datetime) -> int:
    """APB Nagari budgets run by calendar year, in the regency's local time."""
    return now.astimezone(LOCAL_TZ).year


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=LOCAL_TZ), datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)


async def lock(session: AsyncSession, nagari_code: str, year: int) -> NagariQuota:
    """Create the nagari-year row if needed and lock it until the transaction ends."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(NagariQuota).values(nagari_code=nagari_code, year=year, version=0)
                          .on_conflict_do_nothing(index_elements=["nagari_code", "year"]))
    await session.execute(update(NagariQuota)
                          .where(NagariQuota.nagari_code == nagari_code, NagariQuota.year == year)
                          .values(version=NagariQuota.version + 1))
    row = await session.get(NagariQuota, (nagari_code, year), populate_existing=True)
    assert row is not None
    return row


def limit_of(rules: QuotaRules, row: NagariQuota | None, nagari_code: str, year: int) -> int:
    """The admin's override (stored) wins over config.yaml, which wins over the default."""
    if row is not None and row.limit_override is not None:
        return row.limit_override
    return rules.limit(nagari_code, year)


def covered_in(year: int) -> Any:
    """Participants who hold a slot in `year`: decided before its end, not ended before its
    start (carried over from earlier years until the nagari ends them)."""
    start, end = year_bounds(year)
    return (Registration.status.in_(COUNTED) & (Registration.decided_at < end)
            & (Registration.ends_at.is_(None) | (Registration.ends_at > start)))


async def used(session: AsyncSession, nagari_code: str, year: int) -> int:
    query = select(func.count()).select_from(Registration).where(
        Registration.nagari_code == nagari_code, covered_in(year))
    return int((await session.execute(query)).scalar_one())


async def carried_over(session: AsyncSession, nagari_code: str, year: int) -> int:
    """Of `used`: participants decided in an earlier year."""
    query = select(func.count()).select_from(Registration).where(
        Registration.nagari_code == nagari_code, covered_in(year), Registration.decided_at < year_bounds(year)[0])
    return int((await session.execute(query)).scalar_one())


async def waiting_list(session: AsyncSession, nagari_code: str) -> list[Registration]:
    query = (select(Registration).where(Registration.nagari_code == nagari_code, Registration.status == "waiting")
             .order_by(Registration.decided_at, Registration.id))
    return list((await session.execute(query)).scalars().all())


@dataclass(frozen=True)
class Placement:
    status: str  # approved | waiting
    position: int | None = None  # on the waiting list, from 1


async def place(session: AsyncSession, rules: QuotaRules, row: NagariQuota, registration: Registration,
                actor: str, now: datetime) -> Placement:
    """Approve within the quota, else put on the waiting list. The caller holds `lock(row)`."""
    limit = limit_of(rules, row, row.nagari_code, row.year)
    registration.decided_at, registration.decided_by, registration.updated_at = now, actor, now
    registration.decision_reason = None
    if await used(session, row.nagari_code, row.year) < limit:
        registration.status = "approved"
        await session.flush()
        return Placement("approved")
    registration.status = "waiting"
    await session.flush()
    queue = await waiting_list(session, row.nagari_code)
    return Placement("waiting", next(i for i, r in enumerate(queue, start=1) if r.id == registration.id))


async def promote(session: AsyncSession, rules: QuotaRules, row: NagariQuota, now: datetime) -> list[Registration]:
    """Fill free slots from the waiting list, oldest first. The caller holds `lock(row)`."""
    free = limit_of(rules, row, row.nagari_code, row.year) - await used(session, row.nagari_code, row.year)
    if free <= 0:
        return []
    promoted = (await waiting_list(session, row.nagari_code))[:free]
    for registration in promoted:
        registration.status, registration.decided_at, registration.updated_at = "approved", now, now
    await session.flush()
    return promoted


async def usage(session: AsyncSession, rules: QuotaRules, nagari_code: str, year: int) -> dict[str, Any]:
    """Quota, use and waiting list of a nagari-year (read only, no lock)."""
    row = await session.get(NagariQuota, (nagari_code, year))
    return {
        "limit": limit_of(rules, row, nagari_code, year),
        "used": await used(session, nagari_code, year),
        "carried": await carried_over(session, nagari_code, year),
        "waiting": tuple(r.reference for r in await waiting_list(session, nagari_code)),
    }
