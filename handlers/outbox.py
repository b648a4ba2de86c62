"""Use-case: send what is waiting in the outbox, obeying the rules every message obeys.

A worker (bot/worker.py: embedded in the bot, or `python -m bot worker` processes) repeats:
claim a batch (queued -> sending, committed *before* anything is handed to a platform), send
each message through `svc.senders[channel]` at the channel's rate, then record sent / failed /
skipped with a reason in one transaction. A worker killed between the two commits leaves its
batch in "sending"; after `lease_seconds` any worker puts it back in the queue, so a crash can
repeat at most one batch -- about a second's sending at the channel's rate (`claim_size`) -- and
never skips a message.

Rules, for every message (issue 6):
- opted out ("berhenti"/"stop"): no campaign or reminder; transactional messages still go;
- quiet hours (default 21:00-07:00 WIB): nothing is claimed; enqueueing sets not_before to the
  next 07:00 -- deferred, never dropped;
- a person in the middle of a conversation gets no campaign or reminder until they finish or go
  quiet (`busy_minutes`);
- per-channel rate (Telegram ~30/s; WhatsApp 80/s, upgradable to 1,000/s: DOMAIN.md);
- transient errors retried with exponential backoff (not_before); permanent errors recorded;
- after `max_consecutive_failures` failed deliveries a person is not messaged until they write
  (handlers/inbound.py resets Person.failed_deliveries on every inbound message).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time as clock_time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Button, Reply
from handlers.clock import LOCAL_TZ
from handlers.delivery import DeliveryResult, Priority, channel_of
from handlers.retry import RetryPolicy
from handlers.services import Services
from storage.models import Conversation, Person
from storage.outbox import Campaign, OutboxMessage

log = logging.getLogger(__name__)
OUTBOX = OutboxMessage.__table__
# Steps at which a person is not in the middle of anything (handlers/maintenance.NOT_DRAFT_STEPS
# plus the language question, which is one tap).
IDLE_STEPS = ("idle", "done", "ended", "language")


class DeliveryRules(BaseModel):
    """config.yaml `delivery:`: how the outbox worker sends."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Equal start and end: no quiet hours.
    quiet_start: clock_time = clock_time(21, 0)
    quiet_end: clock_time = clock_time(7, 0)
    # Platform limits (DOMAIN.md): Telegram ~30 messages/s; WhatsApp 80/s per number (1,000/s
    # after upgrade). The worker paces at limit x headroom, shared by `worker_processes`.
    rate_per_second: dict[str, float] = Field(default_factory=lambda: {"tg": 30.0, "wa": 80.0})
    rate_headroom: float = Field(default=0.95, gt=0, le=1)
    worker_processes: int = Field(default=1, ge=1)
    max_consecutive_failures: int = Field(default=5, ge=1)
    max_attempts: int = Field(default=6, ge=1)
    backoff_seconds: float = Field(default=30, gt=0)
    backoff_max_seconds: float = Field(default=3600, gt=0)
    # A batch still "sending" after this long belongs to a dead worker and is queued again.
    # Must exceed the time one batch takes (batch_size / rate).
    lease_seconds: float = Field(default=120, gt=0)
    # A worker claims at most what the slowest channel sends in `claim_seconds` at its rate (and
    # never more than batch_size): a worker killed mid-batch repeats at most that much.
    batch_size: int = Field(default=50, ge=1, le=1000)
    claim_seconds: float = Field(default=1.0, gt=0, le=60)
    concurrency: int = Field(default=32, ge=1)
    # Campaigns and reminders wait while the person's conversation moved this recently.
    busy_minutes: int = Field(default=30, ge=0)
    # Run the worker inside the bot process (embedded default); turn off when separate
    # `python -m bot worker` processes run against PostgreSQL.
    embedded_worker: bool = True
    poll_seconds: float = Field(default=1.0, gt=0)
    scheduler_seconds: float = Field(default=60.0, gt=0)

    def retry(self) -> RetryPolicy:
        """A failed message waits backoff_seconds, then twice that, ... up to backoff_max_seconds,
        and is given up after max_attempts."""
        return RetryPolicy(base=self.backoff_seconds, cap=self.backoff_max_seconds, max_attempts=self.max_attempts)

    def rate(self, channel: str) -> float | None:
        limit = self.rate_per_second.get(channel)
        return None if limit is None else limit * self.rate_headroom / self.worker_processes

    def claim_size(self, channels: Iterable[str]) -> int:
        """How many messages one round claims when sending through `channels`: a batch may mix
        them, so the slowest one's rate sets it."""
        rates = [rate for rate in (self.rate(channel) for channel in channels) if rate]
        if not rates:
            return self.batch_size
        return max(1, min(self.batch_size, math.floor(min(rates) * self.claim_seconds)))


def delivery_rules(svc: Services) -> DeliveryRules:
    return getattr(svc.config, "delivery", None) or DeliveryRules()


# -- quiet hours ------------------------------------------------------------------------------
def quiet_until(moment: datetime, rules: DeliveryRules) -> datetime | None:
    """The end of the quiet period `moment` falls in (next `quiet_end`, WIB), or None."""
    local = moment.astimezone(LOCAL_TZ)
    start, end = rules.quiet_start, rules.quiet_end
    now_t = local.time()
    quiet = (now_t >= start or now_t < end) if start > end else (start <= now_t < end)
    if not quiet:
        return None
    day = local.date() if now_t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=LOCAL_TZ)


def deliverable_at(moment: datetime, rules: DeliveryRules) -> datetime:
    """`moment`, or the end of the quiet hours it falls in: deferred, not dropped."""
    return quiet_until(moment, rules) or moment


# -- enqueue ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewMessage:
    channel_user: str
    key: str
    text: str
    kind: str = "transactional"  # campaign | reminder | transactional
    lang: str = "id"
    dedupe_key: str | None = None
    priority: Priority = Priority.NOTIFY
    not_before: datetime | None = None
    image: str | None = None
    buttons: tuple[Button, ...] = ()
    # The platform message id this message updates in place (handlers.delivery.Sender).
    replaces: str | None = None


def template_kind(kind: str) -> str | None:
    """The kind of message whose approved WhatsApp template replaces it outside the 24-hour
    window (config.yaml whatsapp.templates: "campaign", "reminder"); transactional messages
    let the sender pick by catalog key."""
    return kind if kind in ("campaign", "reminder") else None


def insert_ignoring_duplicates(session: AsyncSession) -> Any:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING, in the session's dialect."""
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(OUTBOX).on_conflict_do_nothing(index_elements=["dedupe_key"])


async def enqueue(session: AsyncSession, messages: Iterable[NewMessage], now: datetime,
                  rules: DeliveryRules) -> None:
    """Queue messages (caller commits). A message whose dedupe_key exists is ignored, so rules
    may enqueue the same occurrence on every tick."""
    rows = [{
        "kind": m.kind, "campaign_id": None, "channel_user": m.channel_user, "lang": m.lang, "key": m.key,
        "text": m.text, "image": m.image, "priority": int(m.priority), "state": "queued", "attempts": 0,
        "not_before": deliverable_at(m.not_before or now, rules), "dedupe_key": m.dedupe_key,
        "created_at": now, "template": template_kind(m.kind),
        "buttons": [{"id": b.id, "title": b.title} for b in m.buttons] or None, "replaces": m.replaces,
    } for m in messages]
    if rows:
        await session.execute(insert_ignoring_duplicates(session), rows)


# -- claim ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    campaign_id: int | None
    channel_user: str
    lang: str
    key: str
    text: str | None
    image: str | None
    template: str | None
    priority: int
    attempts: int
    created_at: datetime
    buttons: list[dict[str, str]] | None
    replaces: str | None


CLAIMED_COLUMNS = [OUTBOX.c[name] for name in Claimed.__dataclass_fields__]
# Campaigns whose messages wait (paused) or will be skipped (cancelled) are not claimed.
HELD_CAMPAIGNS = ("paused", "cancelled")


async def claim(session: AsyncSession, worker: str, now: datetime, limit: int) -> list[Claimed]:
    """Atomically take up to `limit` due messages (STACK.md: SKIP LOCKED on PostgreSQL, so two
    workers get disjoint rows; SQLite runs the statement atomically). Commits."""
    held = select(Campaign.id).where(Campaign.state.in_(HELD_CAMPAIGNS))
    due = (select(OUTBOX.c.id)
           .where(OUTBOX.c.state == "queued", OUTBOX.c.not_before <= now,
                  (OUTBOX.c.campaign_id.is_(None)) | OUTBOX.c.campaign_id.not_in(held))
           .order_by(OUTBOX.c.priority, OUTBOX.c.id).limit(limit)
           .with_for_update(skip_locked=True))
    statement = (update(OUTBOX).where(OUTBOX.c.id.in_(due.scalar_subquery()))
                 .values(state="sending", claimed_at=now, claimed_by=worker, attempts=OUTBOX.c.attempts + 1)
                 .returning(*CLAIMED_COLUMNS))
    rows = (await session.execute(statement)).all()
    await session.commit()
    return sorted((Claimed(*row) for row in rows), key=lambda c: (c.priority, c.id))


async def requeue_stale(session: AsyncSession, now: datetime, rules: DeliveryRules) -> int:
    """Put back batches whose worker died while sending (lease expired). Commits."""
    result = await session.execute(
        update(OUTBOX).where(OUTBOX.c.state == "sending",
                             OUTBOX.c.claimed_at < now - timedelta(seconds=rules.lease_seconds))
        .values(state="queued", claimed_by=None))
    await session.commit()
    count = result.rowcount or 0
    if count:
        log.warning("requeued %d messages left in flight by a stopped worker", count)
    return count


async def release(session: AsyncSession, worker: str) -> int:
    """Put this worker's unfinished claims back in the queue now (a shutdown that ran out of
    time), rather than after their lease. Commits."""
    result = await session.execute(
        update(OUTBOX).where(OUTBOX.c.state == "sending", OUTBOX.c.claimed_by == worker)
        .values(state="queued", claimed_by=None))
    await session.commit()
    return result.rowcount or 0


# -- pacing -----------------------------------------------------------------------------------
class RateLimiter:
    """Evenly spaced send slots per channel (no bursts: the platform counts per second)."""

    def __init__(self, rates: dict[str, float | None]) -> None:
        self._interval = {channel: 1.0 / rate for channel, rate in rates.items() if rate}
        self._next: dict[str, float] = {}

    async def acquire(self, channel: str) -> None:
        interval = self._interval.get(channel)
        if interval is None:
            return
        now = time.monotonic()
        slot = max(now, self._next.get(channel, now))
        self._next[channel] = slot + interval
        if slot > now:
            await asyncio.sleep(slot - now)


# -- one batch --------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What became of one claimed message."""

    message: Claimed
    state: str  # sent | failed | skipped | queued (retry or wait)
    reason: str | None = None
    not_before: datetime | None = None
    message_id: str | None = None
    # Effect on the person's consecutive-failure count: "reset", "count", "block" or None.
    person: str | None = None


@dataclass
class Batch:
    """The claimed messages and what the worker knows about their recipients."""

    svc: Services
    rules: DeliveryRules
    now: datetime
    people: dict[str, Person]
    # channel_user -> (step, updated_at) of their conversation, if any.
    conversations: dict[str, tuple[str, datetime]]
    campaigns: dict[int, Campaign]

    @classmethod
    async def load(cls, svc: Services, messages: Sequence[Claimed], now: datetime) -> "Batch":
        rules = delivery_rules(svc)
        users = {m.channel_user for m in messages}
        campaign_ids = {m.campaign_id for m in messages if m.campaign_id is not None}
        async with svc.db.session() as session:
            people = (await session.execute(select(Person).where(Person.channel_user.in_(users)))).scalars().all()
            conversations = (await session.execute(select(
                Conversation.channel_user, Conversation.step, Conversation.updated_at).where(
                Conversation.channel_user.in_(users)))).all()
            campaigns = (await session.execute(select(Campaign).where(Campaign.id.in_(campaign_ids)))).scalars().all()
        return cls(svc, rules, now, {p.channel_user: p for p in people},
                   {user: (step, at) for user, step, at in conversations},
                   {c.id: c for c in campaigns if c.id is not None})

    def busy_until(self, channel_user: str) -> datetime | None:
        """When a person in the middle of a conversation counts as gone quiet (None: not busy)."""
        step, updated_at = self.conversations.get(channel_user, ("idle", self.now))
        until = updated_at + timedelta(minutes=self.rules.busy_minutes)
        return until if step not in IDLE_STEPS and until > self.now else None

    def stale(self, message: Claimed) -> bool:
        """An "unfinished registration" reminder for a draft that was finished, dropped or
        touched again since the reminder was queued."""
        if not message.key.startswith("reminder.unfinished"):
            return False
        step, updated_at = self.conversations.get(message.channel_user, ("idle", self.now))
        return step in IDLE_STEPS or updated_at > message.created_at

    def verdict(self, message: Claimed) -> Outcome | None:
        """Why this message must not go now (skip or wait), or None to send it."""
        person = self.people.get(message.channel_user)
        optional = message.kind != "transactional"
        if optional and person is not None and person.opted_out:
            return Outcome(message, "skipped", "opted_out")
        if person is not None and person.failed_deliveries >= self.rules.max_consecutive_failures:
            return Outcome(message, "skipped", "failing")
        campaign = self.campaigns.get(message.campaign_id or 0)
        if campaign is not None and campaign.state == "cancelled":
            return Outcome(message, "skipped", "cancelled")
        if self.stale(message):
            return Outcome(message, "skipped", "stale")
        busy_until = self.busy_until(message.channel_user) if optional else None
        if busy_until is not None:
            return Outcome(message, "queued", "busy", not_before=busy_until)
        if channel_of(message.channel_user) not in self.svc.senders:
            return Outcome(message, "skipped", "no_sender")
        return None

    def reply_of(self, message: Claimed) -> Reply:
        if message.text is not None:
            buttons = tuple(Button(b["id"], b["title"]) for b in message.buttons or ())
            return Reply(message.key, message.text, buttons, image=message.image)
        campaign = self.campaigns[message.campaign_id or 0]
        text = (campaign.text_en if message.lang == "en" else None) or campaign.text_id or ""
        return Reply(message.key, text, image=campaign.image)

    def judge(self, message: Claimed, result: DeliveryResult) -> Outcome:
        """Map the platform's answer to the message's new state (and the person's counter)."""
        if result.ok:
            return Outcome(message, "sent", message_id=result.message_id, person="reset")
        error = (result.error or "error")[:150]
        if result.needs_template:
            # Outside WhatsApp's 24-hour window with no approved template: not the person's fault.
            return Outcome(message, "failed", "needs_template")
        if result.unreachable:
            return Outcome(message, "failed", f"unreachable: {error}", person="block")
        if result.permanent:
            return Outcome(message, "failed", f"permanent: {error}", person="count")
        retry = self.rules.retry()
        if retry.gives_up(message.attempts):
            return Outcome(message, "failed", f"gave_up: {error}", person="count")
        delay = retry.delay(max(1, message.attempts))
        return Outcome(message, "queued", f"retry: {error}",
                       not_before=deliverable_at(self.now + timedelta(seconds=delay), self.rules))


async def send_one(batch: Batch, message: Claimed, limiter: RateLimiter | None,
                   gate: asyncio.Semaphore) -> Outcome:
    waiting = batch.verdict(message)
    if waiting is not None:
        return waiting
    channel = channel_of(message.channel_user)
    async with gate:
        if limiter is not None:
            await limiter.acquire(channel)
        try:
            result = await batch.svc.senders[channel].send(
                message.channel_user, batch.reply_of(message), Priority(message.priority), message.template,
                replace=message.replaces)
        except Exception as problem:  # noqa: BLE001 - a sender bug must not lose the batch
            log.exception("sender %s raised for outbox message %d", channel, message.id)
            result = DeliveryResult(ok=False, error=type(problem).__name__)
    return batch.judge(message, result)


async def record(svc: Services, worker: str, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write every outcome of a batch in one transaction; only rows this worker still holds."""
    rules = delivery_rules(svc)
    statement = (update(OUTBOX)
                 .where(OUTBOX.c.id == bindparam("_id"), OUTBOX.c.state == "sending",
                        OUTBOX.c.claimed_by == worker)
                 .values(state=bindparam("_state"), reason=bindparam("_reason"),
                         not_before=bindparam("_not_before"), sent_at=bindparam("_sent_at"),
                         message_id=bindparam("_message_id"), attempts=bindparam("_attempts")))
    params = [{
        "_id": o.message.id, "_state": o.state, "_reason": o.reason,
        "_not_before": o.not_before or now, "_sent_at": now if o.state == "sent" else None,
        "_message_id": o.message_id,
        # Waiting for a busy person is not an attempt.
        "_attempts": o.message.attempts - (1 if o.reason == "busy" else 0),
    } for o in outcomes]
    by_effect: dict[str, set[str]] = {"reset": set(), "count": set(), "block": set()}
    for outcome in outcomes:
        if outcome.person:
            by_effect[outcome.person].add(outcome.message.channel_user)
    async with svc.db.session() as session:
        if params:
            await session.execute(statement, params)
        person = Person.__table__
        if by_effect["reset"]:
            await session.execute(update(person).where(
                person.c.channel_user.in_(by_effect["reset"]), person.c.failed_deliveries > 0).values(failed_deliveries=0))
        for user in by_effect["count"]:
            await session.execute(update(person).where(person.c.channel_user == user)
                                  .values(failed_deliveries=person.c.failed_deliveries + 1))
        if by_effect["block"]:
            # Telegram 403 (bot blocked): unreachable until they write again.
            await session.execute(update(person).where(person.c.channel_user.in_(by_effect["block"])).values(
                unreachable=True, failed_deliveries=rules.max_consecutive_failures))
        await session.commit()


async def deliver_batch(svc: Services, worker: str, messages: Sequence[Claimed],
                        limiter: RateLimiter | None) -> list[Outcome]:
    now = svc.clock.now()
    batch = await Batch.load(svc, messages, now)
    gate = asyncio.Semaphore(batch.rules.concurrency)
    outcomes = await asyncio.gather(*(send_one(batch, m, limiter, gate) for m in messages))
    await record(svc, worker, outcomes, svc.clock.now())
    return list(outcomes)


async def send_due(svc: Services, worker: str, limiter: RateLimiter | None = None,
                   limit: int | None = None) -> list[Outcome]:
    """One round: requeue dead workers' batches, claim what is due, send it, record it.
    Returns the outcomes (empty: nothing due, or quiet hours)."""
    rules = delivery_rules(svc)
    now = svc.clock.now()
    async with svc.db.session() as session:
        await requeue_stale(session, now, rules)
        if quiet_until(now, rules) is not None:
            return []
        messages = await claim(session, worker, now, limit or rules.claim_size(svc.senders))
    if not messages:
        return []
    return await deliver_batch(svc, worker, messages, limiter)


async def drain(svc: Services, worker: str = "inline", limiter: RateLimiter | None = None) -> list[Outcome]:
    """Send everything due now (simulator, tests): rounds until a round sends nothing new."""
    outcomes: list[Outcome] = []
    while True:
        round_ = await send_due(svc, worker, limiter)
        outcomes.extend(round_)
        if not round_ or all(o.state == "queued" for o in round_):
            return outcomes


async def counts_by_state(session: AsyncSession, campaign_id: int | None = None) -> dict[str, int]:
    query = select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)
    if campaign_id is not None:
        query = query.where(OUTBOX.c.campaign_id == campaign_id)
    return {state: count for state, count in (await session.execute(query)).all()}
