"""Use-case: the figures of the dashboard's pages, counted by the database.

The numbers /statistik gives come from the same functions here (handlers/stats.py
`regency_view`, `operator_view`, `funnel`; handlers/handover.py `ticket_stats`; handlers/links.py
`source_view`), so a page and the chat never disagree. What the chat does not have is added
here, each as one set-based query whose result has a handful of rows per nagari, whatever the
number of registrations:

- work categories by status (the overview);
- the oldest pending registration of each nagari, one index seek each
  (ix_registration_nagari_status_created), for the nagari board;
- the time from submission to decision, median and 90th percentile per nagari over the last
  HEALTH_DAYS days, ranked by the database (window functions: SQLite and PostgreSQL alike);
- reminders waiting in the outbox;
- campaigns: the outbox's states per campaign, and WhatsApp's receipts (delivered, read,
  failed) of the messages it sent;
- the funnel by channel (Telegram, WhatsApp), the same counting as `handlers/stats.funnel`
  with the channel as one more group.

Counts only: nothing here reads a name, a NIK or a phone number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.links import SourceView
from conversations.pricing import money
from conversations.reports import COVERED, SUBMITTED, Funnel, NagariLine, OperatorView, RegencyView, funnel_of, group_of
from conversations.state import IDLE_STEPS
from handlers import campaign_cost
from handlers.clock import LOCAL_TZ
from handlers.handover import TicketStats, ticket_stats
from handlers.outbox import OUTBOX
from handlers.services import Services
from handlers.stats import funnel, local_today, operator_view, regency_view
from storage.models import Consent, Conversation, Nagari, Registration
from storage.outbox import Campaign
from storage.whatsapp import OutboundMessage

# Desk health looks at the decisions of the last quarter: how the desk works now.
HEALTH_DAYS = 90
# The first decision on a registration (a later withdrawal or ending sets decided_at again).
DECIDED = ("approved", "enrolled", "waiting", "rejected")
# Campaigns listed, newest first.
MAX_CAMPAIGNS = 50
CHANNELS = ("wa", "tg", "other")
WHATSAPP_OUTBOUND = OutboundMessage.__table__
Codes = frozenset[str] | None


def _in(column: Any, codes: Codes) -> Any:
    return column.in_(sorted(codes)) if codes is not None else literal(True)


def _aware(value: Any) -> datetime | None:
    """A timestamp read through an aggregate: SQLite gives text (the column's type is not
    applied), PostgreSQL an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def age_days(now: datetime, moment: Any) -> int | None:
    """Whole days between a moment's local date and today's (the chat's "tertua 10 hari")."""
    aware = _aware(moment)
    return None if aware is None else (local_today(now) - aware.astimezone(LOCAL_TZ).date()).days


# -- overview ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Overview:
    view: RegencyView  # /statistik's figures, with the weekly trend
    categories: dict[str, dict[str, int]]  # category id -> status -> registrations


async def overview(svc: Services, session: AsyncSession, codes: Codes) -> Overview:
    view = await regency_view(svc, session, set(codes) if codes is not None else None, with_trend=True)
    rows = (await session.execute(
        select(Registration.category, Registration.status, func.count())
        .where(_in(Registration.nagari_code, codes)).group_by(Registration.category, Registration.status))).all()
    categories: dict[str, dict[str, int]] = {c.id: {} for c in svc.rules.categories}
    for category, status, count in rows:
        categories.setdefault(category, {})[status] = int(count)
    return Overview(view, categories)


# -- the nagari board ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BoardLine:
    line: NagariLine
    oldest_days: int | None  # age of the oldest pending registration
    open_tickets: int


@dataclass(frozen=True)
class Board:
    view: RegencyView
    lines: tuple[BoardLine, ...]
    tickets: TicketStats


async def oldest_pending(session: AsyncSession, codes: Codes, now: datetime) -> dict[str, int | None]:
    """Each nagari's oldest pending registration's age: a correlated MIN per nagari, which the
    (nagari, status, created) index answers with one seek."""
    oldest = (select(func.min(Registration.created_at))
              .where(Registration.nagari_code == Nagari.code, Registration.status == "pending")
              .correlate(Nagari).scalar_subquery())
    rows = (await session.execute(select(Nagari.code, oldest).where(_in(Nagari.code, codes)))).all()
    return {code: age_days(now, moment) for code, moment in rows}


def open_by_code(tickets: TicketStats, lines: tuple[NagariLine, ...] | list[NagariLine]) -> dict[str, int]:
    """Open tickets per nagari code (ticket_stats names the nagari; names are unique)."""
    by_name = {name: open_ for name, _, open_ in tickets.per_nagari}
    return {line.code: by_name.get(line.name, 0) for line in lines}


async def board(svc: Services, session: AsyncSession, codes: Codes) -> Board:
    now = svc.clock.now()
    view = await regency_view(svc, session, set(codes) if codes is not None else None)
    oldest = await oldest_pending(session, codes, now)
    tickets = await ticket_stats(session)
    open_tickets = open_by_code(tickets, view.nagari)
    lines = tuple(BoardLine(line, oldest.get(line.code), open_tickets.get(line.code, 0)) for line in view.nagari)
    return Board(view, lines, tickets)


# -- desk health -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionTimes:
    decided: int  # decisions in the window
    median_hours: float | None
    p90_hours: float | None


NO_DECISIONS = DecisionTimes(0, None, None)


def _seconds_between(session: AsyncSession, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


async def decision_times(session: AsyncSession, codes: Codes, now: datetime
                         ) -> tuple[dict[str, DecisionTimes], DecisionTimes]:
    """Median and 90th percentile (nearest rank) of the hours from submission to decision of
    the decisions of the last HEALTH_DAYS days: per nagari, and over all of `codes`. One pass:
    the database ranks the durations within each nagari and overall (ROW_NUMBER over windows)
    and returns only the rows at those ranks, so no duration leaves it."""
    since = now - timedelta(days=HEALTH_DAYS)
    durations = (select(Registration.nagari_code.label("code"),
                        _seconds_between(session, Registration.created_at, Registration.decided_at).label("seconds"))
                 .where(Registration.status.in_(DECIDED), Registration.decided_at >= since,
                        _in(Registration.nagari_code, codes))
                 .subquery())
    ranked = select(
        durations.c.code, durations.c.seconds,
        func.row_number().over(partition_by=durations.c.code, order_by=durations.c.seconds).label("rank"),
        func.count().over(partition_by=durations.c.code).label("n"),
        func.row_number().over(order_by=durations.c.seconds).label("all_rank"),
        func.count().over().label("all_n")).subquery()

    def at(n: Any, p: int) -> Any:
        return (n * p + 99) // 100

    rows = (await session.execute(
        select(ranked.c.code, ranked.c.seconds, ranked.c.n, ranked.c.rank, ranked.c.all_n, ranked.c.all_rank,
               at(ranked.c.n, 50), at(ranked.c.n, 90), at(ranked.c.all_n, 50), at(ranked.c.all_n, 90))
        .where(or_(ranked.c.rank == at(ranked.c.n, 50), ranked.c.rank == at(ranked.c.n, 90),
                   ranked.c.all_rank == at(ranked.c.all_n, 50), ranked.c.all_rank == at(ranked.c.all_n, 90))))).all()
    per: dict[str, dict[str, Any]] = {}
    overall: dict[str, Any] = {}
    for code, seconds, n, rank, all_n, all_rank, median_at, p90_at, all_median_at, all_p90_at in rows:
        hours = float(seconds) / 3600
        entry = per.setdefault(code, {"n": int(n)})
        if rank == median_at:
            entry["median"] = hours
        if rank == p90_at:
            entry["p90"] = hours
        overall["n"] = int(all_n)
        if all_rank == all_median_at:
            overall["median"] = hours
        if all_rank == all_p90_at:
            overall["p90"] = hours
    found = {code: DecisionTimes(e["n"], e.get("median"), e.get("p90")) for code, e in per.items() if "median" in e}
    total = DecisionTimes(overall["n"], overall.get("median"), overall.get("p90")) if overall else NO_DECISIONS
    return found, total


@dataclass(frozen=True)
class Reminders:
    due: int  # queued, due now (sent at the worker's next round, outside quiet hours)
    later: int  # queued for later
    sent_week: int
    failed_week: int


async def reminders(session: AsyncSession, now: datetime) -> Reminders:
    week = now - timedelta(days=7)
    due, waiting = (await session.execute(
        select(func.sum(case((OUTBOX.c.not_before <= now, 1), else_=0)), func.count())
        .where(OUTBOX.c.state.in_(("queued", "sending")), OUTBOX.c.kind == "reminder"))).one()
    sent = (await session.execute(select(func.count()).where(
        OUTBOX.c.kind == "reminder", OUTBOX.c.state == "sent", OUTBOX.c.sent_at >= week))).scalar_one()
    failed = (await session.execute(select(func.count()).where(
        OUTBOX.c.kind == "reminder", OUTBOX.c.state == "failed", OUTBOX.c.created_at >= week))).scalar_one()
    return Reminders(int(due or 0), int(waiting) - int(due or 0), int(sent), int(failed))


@dataclass(frozen=True)
class HealthLine:
    line: NagariLine
    times: DecisionTimes
    oldest_days: int | None
    open_tickets: int


@dataclass(frozen=True)
class Health:
    days: int
    overall: DecisionTimes
    lines: tuple[HealthLine, ...]
    tickets: TicketStats
    reminders: Reminders | None  # the regency's only: reminders go to workers, not to a nagari


async def health(svc: Services, session: AsyncSession, codes: Codes) -> Health:
    now = svc.clock.now()
    view = await regency_view(svc, session, set(codes) if codes is not None else None)
    per, overall = await decision_times(session, codes, now)
    oldest = await oldest_pending(session, codes, now)
    tickets = await ticket_stats(session)
    open_tickets = open_by_code(tickets, view.nagari)
    lines = tuple(HealthLine(line, per.get(line.code, NO_DECISIONS), oldest.get(line.code),
                             open_tickets.get(line.code, 0)) for line in view.nagari)
    return Health(HEALTH_DAYS, overall, lines, tickets, await reminders(session, now) if codes is None else None)


# -- one nagari ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NagariPage:
    code: str
    kecamatan: str
    view: OperatorView  # /statistik's figures for the nagari's operator, with the trend
    by_status: dict[str, int]
    times: DecisionTimes
    has_operator: bool
    open_tickets: int

    @property
    def submitted(self) -> int:
        return sum(self.by_status.values())

    @property
    def covered(self) -> int:
        return sum(self.by_status.get(s, 0) for s in COVERED)


async def nagari_page(svc: Services, session: AsyncSession, code: str) -> NagariPage | None:
    nagari = await session.get(Nagari, code)
    if nagari is None:
        return None
    now = svc.clock.now()
    view = await operator_view(svc, session, code)
    by_status = {status: int(count) for status, count in (await session.execute(
        select(Registration.status, func.count()).where(Registration.nagari_code == code)
        .group_by(Registration.status))).all()}
    times = (await decision_times(session, frozenset({code}), now))[0].get(code, NO_DECISIONS)
    regency = await regency_view(svc, session, {code})
    line = regency.nagari[0]
    tickets = await ticket_stats(session)
    return NagariPage(code, nagari.kecamatan, view, by_status, times, line.has_operator,
                      open_by_code(tickets, [line]).get(code, 0))


# -- the funnel --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunnelPage:
    total: Funnel  # /statistik's funnel
    by_channel: dict[str, Funnel]  # the same, per channel ("wa", "tg", "other")
    approved: dict[str, int]  # of the starters, per channel: approved or enrolled now
    enrolled: dict[str, int]

    @property
    def approved_total(self) -> int:
        return sum(self.approved.values())

    @property
    def enrolled_total(self) -> int:
        return sum(self.enrolled.values())


async def funnel_by_channel(svc: Services, session: AsyncSession) -> tuple[dict[str, Funnel], dict[str, int],
                                                                          dict[str, int]]:
    """handlers/stats.funnel counted per channel (see there for what each count means), and of
    the same starters those approved (or enrolled) and those enrolled."""
    now = svc.clock.now()
    days = svc.rules.conversation.draft_expiry_days
    since = now - timedelta(days=days)
    consented = (select(Consent.channel_user).where(Consent.given_at >= since, Consent.method == "chat")
                 .distinct().subquery())
    registered = exists().where(Registration.channel_user == consented.c.channel_user)
    each = (select(campaign_cost.channel_of_column(consented.c.channel_user).label("channel"),
                   Conversation.step.label("step"), registered.label("registered"))
            .select_from(consented)
            .outerjoin(Conversation, Conversation.channel_user == consented.c.channel_user).subquery())
    rows = (await session.execute(select(each.c.channel, each.c.step, each.c.registered, func.count())
                                  .group_by(each.c.channel, each.c.step, each.c.registered))).all()
    furthest: dict[str, dict[int, int]] = {c: {} for c in CHANNELS}
    not_eligible = dict.fromkeys(CHANNELS, 0)
    for channel, step, has_registration, count in rows:
        group = group_of(step) if step else None
        if has_registration:
            reached = SUBMITTED
        elif group is not None and group >= 2:
            reached = group
        else:
            reached = 2
            not_eligible[channel] += int(count)
        furthest[channel][reached] = furthest[channel].get(reached, 0) + int(count)
    before_each = (select(campaign_cost.channel_of_column(Conversation.channel_user).label("channel"),
                          Conversation.step.label("step"))
                   .where(Conversation.updated_at >= since, Conversation.step.in_(("language", "consent")),
                          ~Conversation.channel_user.in_(select(consented.c.channel_user))).subquery())
    for channel, step, count in (await session.execute(
            select(before_each.c.channel, before_each.c.step, func.count())
            .group_by(before_each.c.channel, before_each.c.step))).all():
        group = group_of(step) or 0
        furthest[channel][group] = furthest[channel].get(group, 0) + int(count)
    standing: dict[str, dict[int, int]] = {c: {} for c in CHANNELS}
    standing_each = (select(campaign_cost.channel_of_column(Conversation.channel_user).label("channel"),
                            Conversation.step.label("step"))
                     .where(Conversation.step.not_in(IDLE_STEPS)).subquery())
    for channel, step, count in (await session.execute(
            select(standing_each.c.channel, standing_each.c.step, func.count())
            .group_by(standing_each.c.channel, standing_each.c.step))).all():
        group = group_of(step)
        if group is not None:
            standing[channel][group] = standing[channel].get(group, 0) + int(count)
    outcome = (select(campaign_cost.channel_of_column(consented.c.channel_user).label("channel"),
                      case((exists().where(Registration.channel_user == consented.c.channel_user,
                                           Registration.status.in_(COVERED)), 1), else_=0).label("approved"),
                      case((exists().where(Registration.channel_user == consented.c.channel_user,
                                           Registration.status == "enrolled"), 1), else_=0).label("enrolled"))
               .select_from(consented).subquery())
    approved, enrolled = dict.fromkeys(CHANNELS, 0), dict.fromkeys(CHANNELS, 0)
    for channel, approved_count, enrolled_count in (await session.execute(
            select(outcome.c.channel, func.sum(outcome.c.approved), func.sum(outcome.c.enrolled))
            .group_by(outcome.c.channel))).all():
        approved[channel], enrolled[channel] = int(approved_count or 0), int(enrolled_count or 0)
    funnels = {c: funnel_of(days, furthest[c], standing[c], not_eligible[c]) for c in CHANNELS}
    return funnels, approved, enrolled


async def funnel_page(svc: Services, session: AsyncSession) -> FunnelPage:
    by_channel, approved, enrolled = await funnel_by_channel(svc, session)
    return FunnelPage(await funnel(svc, session), by_channel, approved, enrolled)


# -- campaigns -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CampaignLine:
    id: int
    state: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    total: int
    states: dict[str, int]  # outbox state -> messages (queued, sending, sent, failed, skipped)
    delivered: int  # WhatsApp's receipts of the messages sent: delivered (or read)
    read: int
    wa_failed: int  # sent, then reported failed by WhatsApp
    cost: str | None  # the estimate, formatted ("Rp 12.345"), where there is one

    @property
    def sent(self) -> int:
        return self.states.get("sent", 0)

    @property
    def failed(self) -> int:
        return self.states.get("failed", 0) + self.wa_failed


@dataclass(frozen=True)
class Campaigns:
    lines: tuple[CampaignLine, ...] = field(default_factory=tuple)


def stored_cost(report: dict[str, Any] | None) -> str | None:
    """The cost estimate a finished campaign's report holds (handlers/campaigns.follow_up)."""
    cost = (report or {}).get("cost") or {}
    estimate, currency = cost.get("estimate"), cost.get("currency")
    if estimate is None or not currency:
        return None
    try:
        return money(Decimal(str(estimate)), str(currency))
    except (InvalidOperation, ValueError):
        return None


async def campaigns(svc: Services, session: AsyncSession) -> Campaigns:
    rows = (await session.execute(select(Campaign).where(Campaign.state != "draft")
                                  .order_by(Campaign.id.desc()).limit(MAX_CAMPAIGNS))).scalars().all()
    ids = [row.id for row in rows if row.id is not None]
    if not ids:
        return Campaigns()
    states: dict[int, dict[str, int]] = {}
    for campaign_id, state, count in (await session.execute(
            select(OUTBOX.c.campaign_id, OUTBOX.c.state, func.count()).where(OUTBOX.c.campaign_id.in_(ids))
            .group_by(OUTBOX.c.campaign_id, OUTBOX.c.state))).all():
        states.setdefault(campaign_id, {})[state] = int(count)
    wa = WHATSAPP_OUTBOUND
    receipts: dict[int, dict[str, int]] = {}
    joined = OUTBOX.join(wa, and_(wa.c.message_id == OUTBOX.c.message_id, wa.c.channel_user == OUTBOX.c.channel_user))
    for campaign_id, status, count in (await session.execute(
            select(OUTBOX.c.campaign_id, wa.c.status, func.count()).select_from(joined)
            .where(OUTBOX.c.campaign_id.in_(ids), OUTBOX.c.state == "sent")
            .group_by(OUTBOX.c.campaign_id, wa.c.status))).all():
        receipts.setdefault(campaign_id, {})[status] = int(count)
    rate = campaign_cost.campaign_rate(svc)
    lines = []
    for row in rows:
        assert row.id is not None
        got = receipts.get(row.id, {})
        cost = stored_cost(row.report)
        if cost is None and row.state in ("running", "paused", "cancelled"):
            live = (await campaign_cost.sent(session, row.id)).cost(rate)
            cost = money(live, rate.currency) if live is not None else None
        lines.append(CampaignLine(
            id=row.id, state=row.state, created=row.created_at, started=row.started_at, finished=row.finished_at,
            total=row.total, states=states.get(row.id, {}), delivered=got.get("delivered", 0) + got.get("read", 0),
            read=got.get("read", 0), wa_failed=got.get("failed", 0), cost=cost))
    return Campaigns(tuple(lines))


# -- sources ------------------------------------------------------------------------------------------
def has_sources() -> bool:
    """Whether registrations record where they came from (the recruitment links' column)."""
    columns = Registration.__table__.columns
    return "link_id" in columns or "source" in columns


async def sources(svc: Services, session: AsyncSession, codes: Codes) -> SourceView | None:
    if not has_sources():
        return None
    from handlers.links import source_view

    return await source_view(session, svc, set(codes) if codes is not None else None)
