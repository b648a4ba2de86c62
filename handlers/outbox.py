"""Use-case: send what is waiting in the outbox, obeying the rules every message obeys.

A turn's messages (replies, and notices to officials or workers) are inserted by the turn's own
transaction already claimed by the process that handles it, and sent by that process right
after the commit (`claim_new`, `send_claimed`); if it dies in between, they are put back in the
queue after `reply_lease_seconds` and any worker sends them, replies first. A worker (bot/worker.py: embedded in the bot, or `python -m bot worker` processes) repeats:
claim a batch (queued -> sending, committed *before* anything is handed to a platform), send
each message through `svc.senders[channel]` at the channel's rate, then record sent / failed /
skipped with a reason in one transaction. A worker killed between the two commits leaves its
batch in "sending"; after `lease_seconds` any worker puts it back in the queue, so a crash can
repeat at most one batch -- about a second's sending at the channel's rate (`claim_size`) -- and
never skips a message.

Rules, for every message:
- opted out ("berhenti"/"stop"): no campaign or reminder; transactional messages still go;
- quiet hours (default 21:00-07:00 WIB): nothing is claimed; enqueueing sets not_before to the
  next 07:00 -- deferred, never dropped;
- a person in the middle of a conversation gets no campaign or reminder until they finish or go
  quiet (`busy_minutes`);
- per-channel rate (Telegram ~30/s; WhatsApp 80/s, upgradable to 1,000/s: docs/domain.md);
- transient errors retried with exponential backoff (not_before); permanent errors recorded;
- after `max_consecutive_failures` failed deliveries a person is not messaged until they write
  (handlers/inbound.py resets Person.failed_deliveries on every inbound message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import json

from sqlalchemy import Boolean, and_, bindparam, case, func, insert, literal_column, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Button, Reply
from conversations.state import IDLE_STEPS
from handlers import metrics
from handlers.clock import LOCAL_TZ
from handlers.batching import GroupCommit
from handlers.delivery import DeliveryResult, Outgoing, Priority, channel_of
from handlers.settings import DeliveryRules  # noqa: F401  (re-exported)
from handlers.services import TURN_CLAIM, Services
from handlers.writer import SQLITE_WRITER, one_writer  # noqa: F401  (re-exported)
from storage import hot
from storage.crypto import NikCipher
from storage.models import Conversation, Person
from storage.outbox import Campaign, OutboxMessage

log = logging.getLogger(__name__)
OUTBOX = OutboxMessage.__table__
# Claimed by some process's turn. The pattern is part of the SQL text, not a parameter: SQLite
# prepares a statement again each time a LIKE's pattern is bound, which made the turn's preload
# (whose query holds this) cost ten times what its lookups do.
BY_A_TURN = OUTBOX.c.claimed_by.like(literal_column("'" + TURN_CLAIM + "%'"))


def sender_rates(svc: Services) -> list[float]:
    """The pace of each channel's sender (its `per_second`, where it has one)."""
    return [rate for rate in (getattr(sender, "per_second", None) for sender in svc.senders.values()) if rate]


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


async def has_dedupe(session: AsyncSession, dedupe_key: str) -> bool:
    """Whether a message with this dedupe key was ever queued."""
    return (await session.execute(select(OUTBOX.c.id).where(OUTBOX.c.dedupe_key == dedupe_key).limit(1))).first() \
        is not None


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
    body_enc: str | None = None


CLAIMED_COLUMNS = [OUTBOX.c[name] for name in Claimed.__dataclass_fields__]
CLAIM_KEYS = ("kind", "campaign_id", "channel_user", "lang", "key", "text", "image", "buttons", "replaces",
              "template", "body_enc", "priority", "state", "attempts", "not_before", "dedupe_key", "created_at",
              "claimed_at", "claimed_by")
CLAIM_NEW = hot.PreparedRows(OUTBOX, CLAIM_KEYS,
                             lambda rows: insert(OUTBOX).values(rows).returning(*CLAIMED_COLUMNS))
# Campaigns whose messages wait (paused) or will be skipped (cancelled) are not claimed.
HELD_CAMPAIGNS = ("paused", "cancelled")


def body_of(reply: Reply) -> str:
    return json.dumps({"key": reply.key, **reply.to_json()}, ensure_ascii=False, separators=(",", ":"))


def reply_from_body(body: str) -> Reply:
    data = json.loads(body)
    return Reply(data["key"], data["text"], tuple(Button(b["id"], b["title"]) for b in data.get("buttons") or ()),
                 request_contact=bool(data.get("request_contact")), document=data.get("document"),
                 image=data.get("image"), forward=data.get("forward"))


async def claim_new(session: AsyncSession, outgoing: Sequence[Outgoing], writer: str, lang: str, worker: str,
                    now: datetime, cipher: NikCipher) -> list[Claimed]:
    """A turn's messages as outbox rows already claimed by `worker` (this process), in one
    INSERT (caller commits). Messages to the person who wrote go at REPLY priority, notices to
    others at NOTIFY; their order is the order of the ids."""
    # One multi-row INSERT on both databases, compiled once per number of rows (storage/hot.py).
    return claimed_in_order(await CLAIM_NEW.execute(session, claim_rows(outgoing, writer, lang, worker, now, cipher)))


def claim_rows(outgoing: Sequence[Outgoing], writer: str, lang: str, worker: str, now: datetime,
               cipher: NikCipher) -> list[dict[str, Any]]:
    """The outbox rows of a turn's messages, claimed by `worker` (the values of `CLAIM_KEYS`)."""
    return [{
        "kind": "reply", "campaign_id": None, "channel_user": o.to, "lang": lang if o.to == writer else "id",
        "key": o.reply.key[:60], "text": None, "image": None, "buttons": None, "replaces": None, "template": None,
        "body_enc": cipher.encrypt(body_of(o.reply)),
        "priority": int(Priority.REPLY if o.to == writer else Priority.NOTIFY), "state": "sending", "attempts": 1,
        "not_before": now, "dedupe_key": None, "created_at": now, "claimed_at": now, "claimed_by": worker,
    } for o in outgoing]


def claimed_in_order(rows: Iterable[Sequence[Any]]) -> list[Claimed]:
    """Inserted rows (`CLAIMED_COLUMNS`) as messages, in the order of their ids."""
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def stranded_for(channel_user: str, me: str) -> Any:
    """A person's turn messages that are not going out: put back in the queue, or claimed by
    another process's turn (which, as the caller holds the person's lock, died before sending)."""
    return and_(OUTBOX.c.channel_user == channel_user, OUTBOX.c.kind == "reply",
                or_(OUTBOX.c.state == "queued",
                    and_(OUTBOX.c.state == "sending", BY_A_TURN, OUTBOX.c.claimed_by != me)))


async def take_over(session: AsyncSession, channel_user: str, me: str, now: datetime) -> list[Claimed]:
    """The messages of earlier turns that never went out to this person: claimed by a turn of a
    process that died before sending them (a live process sends its turns' messages under the
    person's lock, which the caller holds now), or put back in the queue. Claimed for `me`, to
    be sent before anything newer (caller commits)."""
    rows = (await session.execute(
        update(OUTBOX).where(stranded_for(channel_user, me)).values(state="sending", claimed_at=now, claimed_by=me)
        .returning(*CLAIMED_COLUMNS))).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


async def people_with_stranded(session: AsyncSession, claimed_before: datetime) -> list[str]:
    """People with turn messages left claimed by a process that may have died."""
    query = (select(OUTBOX.c.channel_user).distinct()
             .where(OUTBOX.c.state == "sending", OUTBOX.c.kind == "reply",
                    BY_A_TURN, OUTBOX.c.claimed_at < claimed_before))
    return list((await session.execute(query)).scalars().all())


async def claim(session: AsyncSession, worker: str, now: datetime, limit: int,
                replies_only: bool = False) -> list[Claimed]:
    """Atomically take up to `limit` due messages (SKIP LOCKED on PostgreSQL, so two workers
    get disjoint rows; SQLite runs the statement atomically). Commits. `replies_only`: during
    quiet hours, only replies to people who wrote are sent."""
    held = select(Campaign.id).where(Campaign.state.in_(HELD_CAMPAIGNS))
    due = (select(OUTBOX.c.id)
           .where(OUTBOX.c.state == "queued", OUTBOX.c.not_before <= now,
                  (OUTBOX.c.campaign_id.is_(None)) | OUTBOX.c.campaign_id.not_in(held),
                  *((OUTBOX.c.priority == int(Priority.REPLY),) if replies_only else ()))
           .order_by(OUTBOX.c.priority, OUTBOX.c.id).limit(limit)
           .with_for_update(skip_locked=True))
    statement = (update(OUTBOX).where(OUTBOX.c.id.in_(due.scalar_subquery()))
                 .values(state="sending", claimed_at=now, claimed_by=worker, attempts=OUTBOX.c.attempts + 1)
                 .returning(*CLAIMED_COLUMNS))
    rows = (await session.execute(statement)).all()
    await session.commit()
    return sorted((Claimed(*row) for row in rows), key=lambda c: (c.priority, c.id))


async def requeue_stale(session: AsyncSession, now: datetime, rules: DeliveryRules) -> int:
    """Put back messages whose process died while sending them (lease expired). Commits."""
    expired = or_(OUTBOX.c.claimed_at < now - timedelta(seconds=rules.lease_seconds),
                  and_(OUTBOX.c.kind == "reply",
                       OUTBOX.c.claimed_at < now - timedelta(seconds=rules.reply_lease_seconds)))
    result = await session.execute(
        update(OUTBOX).where(OUTBOX.c.state == "sending", expired).values(state="queued", claimed_by=None))
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
    # The messages the caller still holds in memory, by their encrypted body (a turn's own, just
    # written): not decrypted and decoded again.
    known: Mapping[str, Reply] = field(default_factory=dict)

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
        optional = message.kind in ("campaign", "reminder")
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
        if message.body_enc is not None:
            known = self.known.get(message.body_enc)
            return known if known is not None else reply_from_body(self.svc.cipher.decrypt(message.body_enc))
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


async def send_one(batch: Batch, message: Claimed) -> Outcome:
    """One message through its channel's sender, which keeps to the platform's rates (one
    pacing per channel: bot/ratelimit.py)."""
    waiting = batch.verdict(message)
    if waiting is not None:
        return waiting
    channel = channel_of(message.channel_user)
    try:
        result = await batch.svc.senders[channel].send(
            message.channel_user, batch.reply_of(message), Priority(message.priority), message.template,
            replace=message.replaces, lang=message.lang if message.priority == Priority.REPLY else None)
    except Exception as problem:  # noqa: BLE001 - a sender bug must not lose the batch
        log.exception("sender %s raised for outbox message %d", channel, message.id)
        result = DeliveryResult(ok=False, error=type(problem).__name__)
    metrics.sent(message.channel_user, ("template" if result.template else "ok") if result.ok else "failed")
    return batch.judge(message, result)


RECORD = hot.Prepared(update(OUTBOX)
                        .where(OUTBOX.c.id == bindparam("_id"), OUTBOX.c.state == "sending", OUTBOX.c.claimed_by == bindparam("_worker"))
                        .values(state=bindparam("_state"), reason=bindparam("_reason"),
                                not_before=bindparam("_not_before"), sent_at=bindparam("_sent_at"),
                                message_id=bindparam("_message_id"), attempts=bindparam("_attempts"),
                                # A turn's message body is erased once it is sent or given up.
                                body_enc=case((bindparam("_final", type_=Boolean), null()), else_=OUTBOX.c.body_enc)))


async def record(svc: Services, worker: str, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write every outcome of a batch in one transaction; only rows this worker still holds."""
    rules = delivery_rules(svc)
    params = [{
        "_worker": worker, "_id": o.message.id, "_state": o.state, "_reason": o.reason,
        "_not_before": o.not_before or now, "_sent_at": now if o.state == "sent" else None,
        "_message_id": o.message_id, "_final": o.state != "queued",
        # Waiting for a busy person is not an attempt.
        "_attempts": o.message.attempts - (1 if o.reason == "busy" else 0),
    } for o in outcomes]
    by_effect: dict[str, set[str]] = {"reset": set(), "count": set(), "block": set()}
    for outcome in outcomes:
        if outcome.person:
            by_effect[outcome.person].add(outcome.message.channel_user)
    # A unit of work (storage/hot.Unit): the usual batch is the one prepared UPDATE, with no ORM
    # session; the rarer changes to people's delivery counters go through one, in the same
    # transaction.
    async with svc.db.unit() as unit:
        # Alone (PostgreSQL: atomic by itself, no transaction of its own) unless more follows.
        await hot.execute_many(unit, RECORD, params, alone=not any(by_effect.values()))
        person = Person.__table__
        if by_effect["reset"]:
            await unit.session.execute(update(person).where(
                person.c.channel_user.in_(by_effect["reset"]), person.c.failed_deliveries > 0).values(failed_deliveries=0))
        for user in by_effect["count"]:
            await unit.session.execute(update(person).where(person.c.channel_user == user)
                                       .values(failed_deliveries=person.c.failed_deliveries + 1))
        if by_effect["block"]:
            # Telegram 403 (bot blocked): unreachable until they write again.
            await unit.session.execute(update(person).where(person.c.channel_user.in_(by_effect["block"])).values(
                unreachable=True, failed_deliveries=rules.max_consecutive_failures))
        await unit.commit()


async def send_in_order(batch: Batch, messages: Sequence[Claimed]) -> list[Outcome]:
    """Each person's messages one after the other, in order (their replies arrive in the order
    written); different people at the same time, at most `concurrency` of them."""
    gate = asyncio.Semaphore(batch.rules.concurrency)
    by_person: dict[str, list[Claimed]] = {}
    for message in messages:
        by_person.setdefault(message.channel_user, []).append(message)

    async def one_person(queue: list[Claimed]) -> list[Outcome]:
        async with gate:
            return [await send_one(batch, message) for message in queue]

    if len(by_person) == 1:  # a turn's replies, as a rule: no task of their own needed
        return await one_person(next(iter(by_person.values())))
    results = await asyncio.gather(*(one_person(queue) for queue in by_person.values()))
    return [outcome for outcomes in results for outcome in outcomes]


async def deliver_batch(svc: Services, worker: str, messages: Sequence[Claimed]) -> list[Outcome]:
    now = svc.clock.now()
    batch = await Batch.load(svc, messages, now)
    outcomes = await send_in_order(batch, messages)
    await record(svc, worker, outcomes, svc.clock.now())
    return outcomes


async def send_claimed(svc: Services, messages: Sequence[Claimed], known: Mapping[str, Reply] | None = None
                       ) -> list[Outcome]:
    """Send a committed turn's messages now (this process claimed them in the turn) and record
    what became of them in one transaction. The rules of `Batch.verdict` that concern bulk sends
    (opt-out, busy, failing) do not hold back a reply, so no recipient data is loaded. `known`:
    the turn's messages by their encrypted body (TurnResult.bodies), as the turn made them."""
    if not messages:
        return []
    now = svc.clock.now()
    batch = Batch(svc, delivery_rules(svc), now, {}, {}, {}, known or {})
    outcomes = await send_in_order(batch, messages)
    for outcome in outcomes:
        if outcome.person == "reset" and outcome.message.priority == Priority.REPLY:
            outcome.person = None  # the turn of the person who wrote already reset their counter
    if svc.sent_marks is None:
        svc.sent_marks = GroupCommit(partial(_mark_batch, svc))
    try:
        await svc.sent_marks.submit(outcomes)
    except Exception:  # noqa: BLE001 - sent is sent: the rows are re-sent after their lease at worst
        log.exception("recording %d sent messages failed", len(outcomes))
    return outcomes


async def _mark_batch(svc: Services, batches: Sequence[Sequence[Outcome]]) -> list[None]:
    """What became of the messages of turns that finished sending together: one transaction."""
    async with one_writer(svc):
        await record(svc, svc.turn_claimer, [o for outcomes in batches for o in outcomes], svc.clock.now())
    return [None] * len(batches)


async def send_due(svc: Services, worker: str, limit: int | None = None) -> list[Outcome]:
    """One round: requeue dead workers' batches, claim what is due, send it, record it.
    Returns the outcomes (empty: nothing due, or quiet hours)."""
    rules = delivery_rules(svc)
    now = svc.clock.now()
    async with one_writer(svc), svc.db.session() as session:
        await requeue_stale(session, now, rules)
        quiet = quiet_until(now, rules) is not None
        messages = await claim(session, worker, now, limit or rules.claim_size(sender_rates(svc)), replies_only=quiet)
    if not messages:
        return []
    return await deliver_batch(svc, worker, messages)


async def drain(svc: Services, worker: str = "inline") -> list[Outcome]:
    """Send everything due now (simulator, tests): rounds until a round sends nothing new."""
    outcomes: list[Outcome] = []
    while True:
        round_ = await send_due(svc, worker)
        outcomes.extend(round_)
        if not round_ or all(o.state == "queued" for o in round_):
            return outcomes


async def counts_by_state(session: AsyncSession, campaign_id: int | None = None) -> dict[str, int]:
    query = select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)
    if campaign_id is not None:
        query = query.where(OUTBOX.c.campaign_id == campaign_id)
    return {state: count for state, count in (await session.execute(query)).all()}
