"""Use-case: statistics for officials, by role, with charts (handlers/charts.py).

- An operator: the nagari's quota for the budget year (used, left, waiting list), the backlog
  with the age of its oldest registration, decisions this week, and the weekly trend against
  the quota.
- An admin or viewer: the regency against its target (config.yaml `regency`: 30,000 of 48,838
  vulnerable workers) and against the funded places (the sum of the nagari quotas: 62 x 100),
  every kecamatan (zeros included), the nagari table (fill, backlog, no operator) and the
  registration funnel; the kecamatan and weekly-trend charts on request.

Counting is done by the database in a few GROUP BY queries whose result has a handful of rows
per nagari, whatever the table's size: one over (nagari, status, decision date), which the
index ix_registration_nagari_status_decided answers alone, two over a week's bucket of a
timestamp for the trend, and the oldest pending one from the partial index of pending ones.
A quota's use follows handlers/quota.py: approved or enrolled with a decision in the budget
year (one nagari: quota.usage; every nagari: the same count, grouped).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, and_, case, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.reports import (
    Funnel,
    NagariLine,
    OperatorView,
    RegencyView,
    SUBMITTED,
    Trend,
    Week,
    funnel_of,
    group_of,
)
from handlers import quota
from handlers.clock import LOCAL_TZ
from conversations.state import IDLE_STEPS
from handlers.services import Services
from storage.models import Consent, Conversation, Nagari, Registration
from storage.officials import Official
from storage.officials_extra import NagariQuota

# Weeks in the trend chart: a quarter, readable on a phone.
TREND_WEEKS = 13
WEEK = timedelta(days=7)


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def monday_of(day: date) -> datetime:
    """Monday 00:00 WIB of the week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=LOCAL_TZ)


def _in(column: Any, codes: set[str] | None) -> Any:
    return column.in_(sorted(codes)) if codes is not None else literal(True)


def _week_index(session: AsyncSession, column: Any, start: datetime) -> Any:
    """Whole weeks between `start` and a timestamp, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", column) - start.timestamp()
        return cast(func.floor(seconds / WEEK.total_seconds()), Integer)
    # SQLite stores UTC timestamps as text ("2026-11-28 03:00:00.000000") that julianday() reads.
    reference = start.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return cast((func.julianday(column) - func.julianday(reference)) / 7, Integer)


async def trend(session: AsyncSession, codes: set[str] | None, now: datetime, used: int, target: int) -> Trend:
    """Weekly submissions and approvals of the last TREND_WEEKS weeks of the budget year, and
    the running total of approved (quota use) at the end of each week."""
    year = quota.budget_year(now)
    year_start, _ = quota.year_bounds(year)
    first = max(monday_of(local_today(now)) - (TREND_WEEKS - 1) * WEEK, year_start)
    weeks = int((now - first) / WEEK) + 1
    submitted_week = _week_index(session, Registration.created_at, first)
    submitted = dict((await session.execute(
        select(submitted_week, func.count()).where(Registration.created_at >= first,
                                                   _in(Registration.nagari_code, codes))
        .group_by(submitted_week))).all())
    decided_week = _week_index(session, Registration.decided_at, first)
    approved = dict((await session.execute(
        select(decided_week, func.count()).where(Registration.decided_at >= first,
                                                 Registration.status.in_(quota.COUNTED),
                                                 _in(Registration.nagari_code, codes))
        .group_by(decided_week))).all())
    # What was used before the window, then week by week.
    running = used - sum(int(n) for w, n in approved.items() if w is not None and 0 <= w < weeks)
    rows = []
    for index in range(weeks):
        running += int(approved.get(index, 0))
        start = (first + index * WEEK).astimezone(LOCAL_TZ).date()
        rows.append(Week(start, int(submitted.get(index, 0)), int(approved.get(index, 0)), running))
    return Trend(tuple(rows), target)


async def oldest_pending_days(session: AsyncSession, codes: set[str] | None, now: datetime) -> int | None:
    oldest = (await session.execute(select(func.min(Registration.created_at)).where(
        Registration.status == "pending", _in(Registration.nagari_code, codes)))).scalar_one()
    if oldest is None:
        return None
    if isinstance(oldest, str):  # SQLite, through an aggregate: the type decorator is not applied
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=now.tzinfo)
    elif oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return (local_today(now) - oldest.astimezone(LOCAL_TZ).date()).days


async def operator_view(svc: Services, session: AsyncSession, code: str) -> OperatorView:
    now = svc.clock.now()
    year = quota.budget_year(now)
    usage = await quota.usage(session, svc.config.officials.quota, code, year)
    counts = dict((await session.execute(
        select(Registration.status, func.count()).where(Registration.nagari_code == code)
        .group_by(Registration.status))).all())
    week_start = monday_of(local_today(now))
    decided = dict((await session.execute(
        select(Registration.status, func.count()).where(Registration.nagari_code == code,
                                                        Registration.decided_at >= week_start)
        .group_by(Registration.status))).all())
    nagari = await session.get(Nagari, code)
    return OperatorView(
        nagari=nagari.name if nagari else code, year=year, limit=usage["limit"], used=usage["used"],
        waiting=len(usage["waiting"]), backlog=int(counts.get("pending", 0)),
        oldest_days=await oldest_pending_days(session, {code}, now), corrections=int(counts.get("correction", 0)),
        decided_this_week={s: int(n) for s, n in decided.items()},
        trend=await trend(session, {code}, now, usage["used"], usage["limit"]), today=local_today(now))


async def regency_view(svc: Services, session: AsyncSession, codes: set[str] | None,
                       with_trend: bool = False) -> RegencyView:
    """The regency's figures; the weekly trend (two more passes over the table) only when asked."""
    now = svc.clock.now()
    year = quota.budget_year(now)
    start, end = quota.year_bounds(year)
    # One pass over the (nagari, status, decided_at) index: counts, and the quota use of the year.
    in_year = func.sum(case((and_(Registration.decided_at >= start, Registration.decided_at < end), 1), else_=0))
    grouped = (await session.execute(
        select(Registration.nagari_code, Registration.status, func.count(), in_year)
        .where(_in(Registration.nagari_code, codes))
        .group_by(Registration.nagari_code, Registration.status))).all()
    nagari_rows = (await session.execute(
        select(Nagari.code, Nagari.name, Nagari.kecamatan_code, Nagari.kecamatan)
        .where(_in(Nagari.code, codes)).order_by(Nagari.kecamatan_code, Nagari.code))).all()
    overrides = {row.nagari_code: row for row in (await session.execute(
        select(NagariQuota).where(NagariQuota.year == year))).scalars()}
    staffed = set((await session.execute(
        select(Official.nagari_code).where(Official.role == "operator", Official.revoked_at.is_(None))
        .distinct())).scalars())
    per_nagari: dict[str, dict[str, int]] = {}
    used: dict[str, int] = {}
    for code, status, count, decided_in_year in grouped:
        per_nagari.setdefault(code, {})[status] = int(count)
        if status in quota.COUNTED:
            used[code] = used.get(code, 0) + int(decided_in_year or 0)
    rules = svc.config.officials.quota
    lines, by_kecamatan, by_status = [], {}, {}
    for code, name, _kecamatan_code, kecamatan in nagari_rows:
        counts = per_nagari.get(code, {})
        limit = quota.limit_of(rules, overrides.get(code), code, year)
        lines.append(NagariLine(code, name, kecamatan, limit, used.get(code, 0), counts.get("pending", 0),
                                counts.get("waiting", 0), code in staffed, counts))
        totals = by_kecamatan.setdefault(kecamatan, {})
        for status, count in counts.items():
            totals[status] = totals.get(status, 0) + count
            by_status[status] = by_status.get(status, 0) + count
    places = sum(n.limit for n in lines)
    regency = svc.config.regency
    return RegencyView(
        year=year, target=regency.target_workers, vulnerable=regency.vulnerable_workers, places=places,
        by_status=by_status, by_kecamatan=by_kecamatan, nagari=tuple(lines),
        oldest_days=await oldest_pending_days(session, codes, now),
        trend=await trend(session, codes, now, sum(used.values()), places) if with_trend else None,
        today=local_today(now))


async def funnel(svc: Services, session: AsyncSession) -> Funnel:
    """Where people who started in the last `draft_expiry_days` stop, from what is stored anyway:
    consents, conversation steps and registrations. Unfinished drafts live that long, so none of
    these people is lost, and nothing is kept for the funnel's sake."""
    now = svc.clock.now()
    days = svc.rules.conversation.draft_expiry_days
    since = now - timedelta(days=days)
    consented = (select(Consent.channel_user).where(Consent.given_at >= since, Consent.method == "chat")
                 .distinct().subquery())
    registered = exists().where(Registration.channel_user == consented.c.channel_user)
    rows = (await session.execute(
        select(Conversation.step, registered, func.count()).select_from(consented)
        .outerjoin(Conversation, Conversation.channel_user == consented.c.channel_user)
        .group_by(Conversation.step, registered))).all()
    furthest: dict[int, int] = {}
    not_eligible = 0
    for step, has_registration, count in rows:
        group = group_of(step) if step else None
        if has_registration:
            reached = SUBMITTED
        elif group is not None and group >= 2:
            reached = group
        else:
            # Consented, then no draft and no registration: stopped by the eligibility questions
            # (the flow starts over) or erased their data; known to have reached step 2.
            reached = 2
            not_eligible += int(count)
        furthest[reached] = furthest.get(reached, 0) + int(count)
    # Started, not yet consented: at the language or consent step.
    before = (await session.execute(
        select(Conversation.step, func.count()).where(
            Conversation.updated_at >= since, Conversation.step.in_(("language", "consent")),
            ~Conversation.channel_user.in_(select(consented.c.channel_user)))
        .group_by(Conversation.step))).all()
    for step, count in before:
        furthest[group_of(step) or 0] = furthest.get(group_of(step) or 0, 0) + int(count)
    standing: dict[int, int] = {}
    for step, count in (await session.execute(
            select(Conversation.step, func.count()).where(Conversation.step.not_in(IDLE_STEPS))
            .group_by(Conversation.step))).all():
        group = group_of(step)
        if group is not None:
            standing[group] = standing.get(group, 0) + int(count)
    return funnel_of(days, furthest, standing, not_eligible)


def chart_path(svc: Services, kind: str) -> Path:
    folder = svc.config.resolve(svc.config.officials.chart_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M%S")
    return folder / f"{kind}-{stamp}-{secrets.token_hex(4)}.png"

