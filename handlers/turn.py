"""Use-case: one inbound update from one person is ONE turn.

    adapter -> record (handlers/ingest.accept) -> turn (route -> conversation -> storage and
    outbox) -> commit -> send (handlers/outbox.send_claimed)

A turn runs under the person's lock (held by the caller: handlers/ingest.drain or
handlers/router.dispatch), in one unit of work (storage/hot.Unit: one connection, one
transaction, an ORM session only if a route uses `turn.session`), and commits once. That commit
holds the conversation's new state, the person's "wrote at" and delivery counters, the inbox row
marked handled, whatever the route changed (a registration, an official's decision, a broadcast
draft), and every outgoing message as an outbox row already claimed by this process. Everything
a route decides from is loaded in one query (`preload`): the person, their conversation, whether
they are an official, compose a broadcast or assist a registration, and which update of theirs
is the oldest unhandled (the turn's own must be it); an official's grants are a second query,
only for officials.

A route (handlers/router.ROUTES) answers the message or passes it on; it reads the preloaded
context, writes through `turn.unit` or `turn.session` without committing, and appends what to
send to `turn.out`. A turn that fails is rolled back whole: the update stays in the inbox for
later, the failure is counted on it, and the person is told to try again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, String, bindparam, cast, insert, literal, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.claims import DIALOG_PREFIX
from conversations.events import Inbound, Reply
from conversations.officials import ASSIST_PREFIX
from conversations.state import State
from handlers import metrics
from handlers.delivery import Outgoing
from handlers.outbox import (CLAIM_KEYS, CLAIM_NEW, CLAIMED_COLUMNS, OUTBOX, Claimed, claim_new, claim_rows,
                             claimed_in_order, one_writer, stranded_for, take_over)
from handlers.roles import Grant, grants_of
from handlers.services import Services
from storage import hot
from storage.crypto import who as pseudonym
from storage.inbox import FINISH, INBOX, Inbox
from storage.models import Conversation, Person, Registration
from storage.officials import Official
from storage.outbox import Campaign
from storage.tickets import OPEN_STATES, Ticket
from storage.repo import Repository, decode_state, encode_state

log = logging.getLogger(__name__)
PERSON = Person.__table__
CONVERSATION = Conversation.__table__
TICKET = Ticket.__table__
REGISTRATION = Registration.__table__
# Attempts at one turn when SQLite reports a write conflict with another process (see _is_busy).
BUSY_RETRIES = 20


@dataclass(frozen=True)
class Preloaded:
    """What every route decides from, read in one query at the start of the turn."""

    person_exists: bool
    lang: str | None
    opted_out: bool
    # The person's own registration conversation, as stored (NIK encrypted inside).
    step: str | None
    state_json: str | None
    is_official: bool
    composing_broadcast: bool
    # The step of the registration an operator is filling in for a worker ("assist:<operator>").
    assist_step: str | None
    # Messages of earlier turns to this person that never went out (their process died): they
    # are taken over and sent before this turn's (handlers/outbox.take_over).
    stranded: bool = False
    # The person asked for an official and the ticket is not closed: the form is paused
    # (handlers/handover.py).
    ticket_open: bool = False
    # The person has a registration (submitted, whatever its status): without one, no route
    # needs to read them.
    registered: bool = False
    # The id of the person's oldest unhandled inbox row: the update a turn handles must be it
    # (handlers/ingest.drain hands over what this process just recorded without reading the
    # inbox again; this is the check that nothing older is waiting).
    oldest_pending: int | None = None
    # The person's claim conversation in progress, as stored (encrypted; handlers/claims.py).
    claim: str | None = None


def preload_query(who: str | BindParameter[str], claimer: str | BindParameter[str]) -> Any:
    me = select(cast(who if isinstance(who, BindParameter) else literal(who), String).label("who")).subquery("me")
    official = select(Official.__table__.c.id).where(
        Official.__table__.c.channel_user == me.c.who, Official.__table__.c.revoked_at.is_(None))
    campaign = Campaign.__table__
    draft = select(campaign.c.id).where(campaign.c.created_by == me.c.who, campaign.c.state == "draft")
    assist = CONVERSATION.alias("assist")
    assist_step = select(assist.c.step).where(assist.c.channel_user == ASSIST_PREFIX + who).scalar_subquery()
    claim = CONVERSATION.alias("claim")
    claim_state = select(claim.c.state).where(claim.c.channel_user == DIALOG_PREFIX + who).scalar_subquery()
    stranded = select(OUTBOX.c.id).where(stranded_for(who, claimer))
    ticket = select(TICKET.c.id).where(TICKET.c.channel_user == me.c.who, TICKET.c.status.in_(OPEN_STATES))
    registration = select(REGISTRATION.c.id).where(REGISTRATION.c.channel_user == me.c.who)
    oldest = (select(INBOX.c.id).where(INBOX.c.channel_user == me.c.who, INBOX.c.handled_at.is_(None))
              .order_by(INBOX.c.seq, INBOX.c.id).limit(1).scalar_subquery())
    return (select(PERSON.c.id, PERSON.c.lang, PERSON.c.opted_out, CONVERSATION.c.step, CONVERSATION.c.state,
                   official.exists().label("official"), draft.exists().label("draft"), assist_step.label("assist"),
                   stranded.exists().label("stranded"), ticket.exists().label("ticket"),
                   registration.exists().label("registered"), oldest.label("oldest"), claim_state.label("claim"))
            .select_from(me.outerjoin(PERSON, PERSON.c.channel_user == me.c.who)
                         .outerjoin(CONVERSATION, CONVERSATION.c.channel_user == me.c.who)))


@functools.cache
def preload_statement() -> Any:
    """`preload_query` built once, with the person and this process as parameters: building it
    for every turn cost more than running it."""
    return preload_query(bindparam("who", type_=String), bindparam("claimer", type_=String))


@functools.cache
def _preload_prepared() -> hot.Prepared:
    return hot.Prepared(preload_statement())


async def preload(unit: hot.Unit, who: str, me: str) -> Preloaded:
    # On the driver's connection (storage/hot.py), before the transaction: the ORM has nothing
    # to do with it, and on PostgreSQL it costs no BEGIN.
    (person_id, lang, opted_out, step, state, official, draft, assist, stranded, ticket, registered, oldest, claim), = (
        await unit.alone(_preload_prepared(), {"who": who, "claimer": me}))
    return Preloaded(person_exists=person_id is not None, lang=lang, opted_out=bool(opted_out),
                     step=step, state_json=state, is_official=bool(official),
                     composing_broadcast=bool(draft), assist_step=assist, stranded=bool(stranded),
                     ticket_open=bool(ticket), registered=bool(registered), oldest_pending=oldest, claim=claim)


@dataclass
class Turn:
    """One inbound update's work: the routes' shared context and what they produce."""

    svc: Services
    unit: hot.Unit
    who: str
    event: Inbound
    known_phone: str | None
    now: datetime
    pre: Preloaded
    out: list[Outgoing] = field(default_factory=list)
    # The language the person chose during this turn (stored on their Person row).
    lang: str | None = None
    # The person asked to be forgotten and nothing of theirs remains: no Person row is written.
    forgotten: bool = False
    # A route loaded (or created) the ORM Person: the epilogue updates that object.
    person: Person | None = None
    # A route changed someone's roles (an invitation taken): see `officials_changed` below.
    roles_changed: bool = False
    _grants: list[Grant] | None = None
    # The conversation's new state (an UPDATE's values, or a new one's INSERT), written by `finish`.
    _saved_state: dict[str, Any] | None = None
    _new_state: dict[str, Any] | None = None
    # The turn's messages by their encrypted outbox body (`finish`): sent from memory.
    bodies: dict[str, Reply] = field(default_factory=dict)
    _state: State | None = None

    @property
    def session(self) -> AsyncSession:
        """The turn's ORM session, in the turn's one transaction (created when first used)."""
        return self.unit.session

    @property
    def repo(self) -> Repository:
        return Repository(self.session, self.svc.cipher)

    @property
    def language(self) -> str:
        return self.lang or self.pre.lang or self.svc.rules.default_language

    async def grants(self) -> list[Grant]:
        """The person's roles (a second query, only for officials)."""
        if self._grants is None:
            self._grants = await grants_of(self.session, self.who) if self.pre.is_official else []
        return self._grants

    async def person_row(self) -> Person:
        """The ORM Person (created if new), for routes that change more than the epilogue does."""
        if self.person is None:
            self.person = await self.repo.person(self.who, self.now, self.language)
        return self.person

    def reply(self, *replies: Reply, to: str | None = None) -> None:
        self.out.extend(Outgoing(to or self.who, reply) for reply in replies)

    def say(self, key: str, **params: Any) -> Reply:
        return Reply(key, self.svc.catalog.text(self.language, key, **params))

    def state(self) -> State:
        """The person's own registration conversation as the turn found it (new if none): read
        once, shared by the routes, which do not change it (the conversation works on a copy)."""
        if self._state is None:
            self._state = State() if self.pre.state_json is None else decode_state(self.svc.cipher, self.pre.state_json)
        return self._state

    async def save_state(self, state: State) -> None:
        """Store the person's conversation: an INSERT for a new one, or an UPDATE, written with
        the turn's epilogue (`finish`)."""
        values = {"channel_user": self.who, "step": state.step, "state": encode_state(self.svc.cipher, state),
                  "updated_at": self.now}
        if self.pre.step is not None:
            self._saved_state = {"who": values.pop("channel_user"), **values}
        else:
            self._new_state = values

    async def finish(self, inbox_id: int | None) -> list[Claimed]:
        """The epilogue of every turn: the conversation's new state, the person wrote (WhatsApp's
        24-hour window, delivery failures: someone who writes can be reached again) and their
        language, the update `inbox_id` handled, what the turn wrote for later (a new person,
        a new conversation, a consent: storage/hot.Later), and the turn's messages as outbox
        rows claimed by this process (returned in order). On PostgreSQL all of it is one
        statement, the writes as data-modifying CTEs of the messages' INSERT (one round trip
        instead of four), and when the turn wrote nothing else that statement is its own
        transaction (no BEGIN, no COMMIT: storage/hot.Unit)."""
        person = self._person_values()
        rows = claim_rows(self.out, self.who, self.language, self.svc.turn_claimer, self.now, self.svc.cipher)
        self.bodies = {row["body_enc"]: outgoing.reply for row, outgoing in zip(rows, self.out, strict=True)}
        state = self._saved_state
        if self._new_state is not None:
            self.unit.write_later(NEW_STATE, self._new_state)
        if person is not None and not self.pre.person_exists:
            del person["who"]
            self.unit.write_later(NEW_PERSON, {"channel_user": self.who, "created_at": self.now, "opted_out": False,
                                               **person, "lang": self.language})
            person = None
        if rows and not self.svc.db.is_sqlite and len({later for later, _ in self.unit.later}) == len(self.unit.later):
            later = self.unit.take_later()
            columns = tuple(name for name in person if name != "who") if person is not None else None
            values = {**(state or {}), **(person or {})}
            for _, given in later:
                values.update(given)
            if inbox_id is not None:
                values.update(row_id=inbox_id, now=self.now)
            statement = _epilogue(state is not None, columns, inbox_id is not None, tuple(s for s, _ in later))
            return claimed_in_order(await statement.execute(self.unit, rows, values, alone=True))
        await self.unit.write_now()
        if state is not None:
            await hot.execute(self.unit, SAVE_STATE, state)
        if person is not None:
            await hot.execute(self.unit, _person_update(tuple(n for n in person if n != "who")), person)
        if inbox_id is not None:
            await hot.execute(self.unit, FINISH, {"row_id": inbox_id, "now": self.now})
        return claimed_in_order(await CLAIM_NEW.execute(self.unit, rows))

    def _person_values(self) -> dict[str, Any] | None:
        """What the epilogue writes on the person's row ("who": whose), or None: nothing (they
        were forgotten, or a route holds the ORM object, which is updated instead)."""
        if self.forgotten:
            return None
        values: dict[str, Any] = {"last_inbound_at": self.now, "failed_deliveries": 0, "unreachable": False}
        if self.lang:
            values["lang"] = self.lang
        if self.person is not None:
            for name, value in values.items():
                setattr(self.person, name, value)
            return None
        return {"who": self.who, **values}


# The statements of every turn's epilogue, built once (building one costs more than running it).
SAVE_STATE = hot.Prepared(update(CONVERSATION).where(CONVERSATION.c.channel_user == bindparam("who"))
                          .values(step=bindparam("step"), state=bindparam("state"),
                                  updated_at=bindparam("updated_at")))
# A new conversation and a new person: written with the epilogue (storage/hot.Later).
NEW_STATE = hot.Later("new_state", CONVERSATION, ("channel_user", "step", "state", "updated_at"))
NEW_PERSON = hot.Later("new_person", PERSON, ("channel_user", "created_at", "opted_out", "last_inbound_at",
                                              "failed_deliveries", "unreachable", "lang"))


@functools.cache
def _person_update(columns: tuple[str, ...]) -> hot.Prepared:
    return hot.Prepared(update(PERSON).where(PERSON.c.channel_user == bindparam("who"))
                        .values({name: bindparam(name, type_=PERSON.c[name].type) for name in columns}))


@functools.cache
def _epilogue(state: bool, person: tuple[str, ...] | None, inbox: bool,
              later: tuple[hot.Later, ...] = ()) -> hot.PreparedRows:
    """PostgreSQL: the epilogue's UPDATEs (state, person, inbox row) and the turn's INSERTs for
    later (each a different one) as data-modifying CTEs of the INSERT of the turn's messages:
    one statement. Each writes rows the others do not read, so running them in one statement
    (one snapshot) changes nothing but the round trips."""
    ctes = [*((SAVE_STATE.statement.cte("saved_state"),) if state else ()),
            *((_person_update(person).statement.cte("wrote"),) if person is not None else ()),
            *((FINISH.statement.cte("handled"),) if inbox else ()),
            *(insert_.statement.cte(insert_.name) for insert_ in later)]
    return hot.PreparedRows(OUTBOX, CLAIM_KEYS,
                            lambda rows: insert(OUTBOX).values(rows).returning(*CLAIMED_COLUMNS).add_cte(*ctes))


Route = Callable[[Turn], Awaitable[bool]]


@dataclass(frozen=True)
class TurnResult:
    """The committed turn's messages (claimed by this process), and whether it committed."""

    messages: list[Claimed]
    committed: bool
    outgoing: list[Outgoing]
    # Not run: an older update of the person waits in the inbox (the caller reads it and
    # handles the updates in their order).
    out_of_order: bool = False
    # The committed messages by their encrypted body, as the turn made them (handlers/outbox.
    # send_claimed's `known`: not decrypted again to be sent).
    bodies: dict[str, Reply] = field(default_factory=dict)


async def take_turn(svc: Services, routes: Sequence[Route], who: str, event: Inbound,
                    known_phone: str | None = None, inbox_id: int | None = None) -> TurnResult:
    """Run one turn and commit it; the caller holds the person's lock and then sends
    `messages` (handlers/outbox.send_claimed). Never raises for a bad input or a bug: the
    turn is rolled back, and the person is told to try again. Its time goes to /metrics."""
    started = time.perf_counter()
    try:
        return await _take_turn(svc, routes, who, event, known_phone, inbox_id)
    finally:
        metrics.turn_took(time.perf_counter() - started)


async def _take_turn(svc: Services, routes: Sequence[Route], who: str, event: Inbound,
                     known_phone: str | None, inbox_id: int | None) -> TurnResult:
    for attempt in range(BUSY_RETRIES):
        try:
            async with one_writer(svc):
                return await _run(svc, routes, who, event, known_phone, inbox_id)
        except OperationalError as problem:
            if _is_busy(problem) and attempt < BUSY_RETRIES - 1:
                # Jittered back-off so that two writers that collided do not collide again.
                await asyncio.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                continue
            log.exception("failed to handle a %s from %s", type(event).__name__, pseudonym(who))
            break
        except Exception:  # noqa: BLE001 - no input may crash the bot; the log holds no content
            log.exception("failed to handle a %s from %s", type(event).__name__, pseudonym(who))
            break
    return await _failed(svc, who, inbox_id)


async def _run(svc: Services, routes: Sequence[Route], who: str, event: Inbound, known_phone: str | None,
               inbox_id: int | None) -> TurnResult:
    now = svc.clock.now()
    async with svc.db.unit() as unit:
        turn = Turn(svc, unit, who, event, known_phone, now, await preload(unit, who, svc.turn_claimer))
        if inbox_id is not None and turn.pre.oldest_pending != inbox_id:
            return TurnResult([], False, [], out_of_order=True)  # nothing was written
        # Earlier replies that never went out go first, so the person reads them in order.
        earlier = await take_over(turn.session, who, svc.turn_claimer, now) if turn.pre.stranded else []
        for route in routes:
            if await route(turn):
                break
        messages = await turn.finish(inbox_id)
        await unit.commit()
    if turn.roles_changed or (turn.pre.is_official and turn.lang and turn.lang != turn.pre.lang):
        # Committed: whoever shows officials something per role (Telegram's command menus) may
        # now look again. Only a wake-up: no platform call is made from a turn.
        for hook in svc.officials_changed:
            hook()
    return TurnResult(earlier + messages, True, turn.out, bodies=turn.bodies)


async def _failed(svc: Services, who: str, inbox_id: int | None) -> TurnResult:
    """Nothing of the turn was kept: count the failure on the update (set aside after a few)
    and tell the person, through the outbox like any message."""
    reply = Reply("error.internal", svc.catalog.text(svc.rules.default_language, "error.internal"))
    outgoing = [Outgoing(who, reply)]
    try:
        async with one_writer(svc), svc.db.session() as session:
            if inbox_id is not None:
                await Inbox(session, svc.cipher).mark_attempt(inbox_id)
            now = svc.clock.now()
            messages = await claim_new(session, outgoing, who, svc.rules.default_language, svc.turn_claimer, now,
                                       svc.cipher)
            await session.commit()
    except Exception:  # noqa: BLE001 - the database itself is away: nothing more can be done now
        log.exception("could not record a failed turn of %s", pseudonym(who))
        return TurnResult([], False, outgoing)
    return TurnResult(messages, False, outgoing)


def _is_busy(problem: OperationalError) -> bool:
    """SQLite lets one writer at a time: a transaction that read before another process
    committed cannot write (SQLITE_BUSY/BUSY_SNAPSHOT, "database is locked"), and busy_timeout
    does not help. Nothing was committed, so the whole turn may simply run again."""
    return "database is locked" in str(problem.orig)

