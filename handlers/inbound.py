"""Use-case: "a message arrived from this person".

Load the person's state, let the conversation decide, perform the effects it asks for (feeding
their results back), store everything, commit, and only then return the replies. A crash before
the commit loses nothing the person already gave: they get no answer and their earlier state is
intact; after the commit the new state is safe.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from conversations import registration as flow
from conversations.events import (
    CheckNik,
    CorrectField,
    DataDeleted,
    DeleteMyData,
    Effect,
    Event,
    FieldCorrected,
    Inbound,
    LoadMyData,
    MyData,
    NikChecked,
    RecordConsent,
    RecordSummary,
    Reply,
    Submit,
    Submitted,
)
from conversations.form import Ctx
from conversations.officials import assisted_by
from conversations.state import State
from handlers.clock import LOCAL_TZ
from handlers.services import Services
from storage.models import Person, Registration
from storage.officials_extra import next_correction_group
from storage.repo import UNDECIDED, Repository

log = logging.getLogger(__name__)
# Effects can trigger effects (a NIK check, then a submission); a bound keeps a bug from looping.
MAX_EFFECT_ROUNDS = 4
# Attempts at one turn when SQLite reports a write conflict (see _is_busy).
BUSY_RETRIES = 20
# The lock key under which turns on an SQLite database run one at a time (see one_writer).
SQLITE_WRITER = "sqlite:writer"


@dataclass
class Turn:
    """One inbound message's work, inside one database transaction."""

    svc: Services
    repo: Repository
    channel_user: str
    ctx: Ctx

    async def run(self, state: State, event: Event) -> tuple[flow.Outcome, list[Reply]]:
        outcome = flow.handle(state, event, self.ctx)
        replies = list(outcome.replies)
        forget = outcome.forget
        for _ in range(MAX_EFFECT_ROUNDS):
            if not outcome.effects:
                break
            results: list[Event] = []
            for effect in outcome.effects:
                result = await self.perform(effect, outcome.state)
                if result is not None:
                    results.append(result)
            outcome.effects = []
            for result in results:
                outcome = flow.handle(outcome.state, result, self.ctx)
                replies.extend(outcome.replies)
                forget = forget or outcome.forget
        outcome.forget = forget
        return outcome, replies

    async def perform(self, effect: Effect, state: State) -> Event | None:
        repo, now, who = self.repo, self.ctx.now, self.channel_user
        if isinstance(effect, RecordConsent):
            # Assisted registration (issue 5): consent is given in person to the operator.
            operator = assisted_by(who)
            await repo.record_consent(who, effect.version, effect.lang, now,
                                      method="in_person" if operator else "chat", given_to=operator)
            return None
        if isinstance(effect, CheckNik):
            existing = await repo.registration_by_nik(effect.nik)
            if existing is None:
                return NikChecked(status=None, own=False)
            own = existing.channel_user == who
            return NikChecked(status=existing.status, own=own, reference=existing.reference if own else None)
        if isinstance(effect, Submit):
            return await self.submit(state)
        if isinstance(effect, LoadMyData):
            records = tuple(
                RecordSummary(r.reference, r.status, repo.answers_of(r)) for r in await repo.registrations_of(who)
            )
            consent = await repo.latest_consent(who)
            given = consent.given_at.astimezone(LOCAL_TZ).strftime("%d-%m-%Y %H:%M WIB") if consent else None
            return MyData(records=records, consent_given_at=given)
        if isinstance(effect, DeleteMyData):
            return await self.delete_my_data()
        if isinstance(effect, CorrectField):
            return await self.correct(effect)
        raise TypeError(f"unknown effect {type(effect).__name__}")

    async def submit(self, state: State) -> Submitted:
        repo, now = self.repo, self.ctx.now
        if await repo.registration_by_nik(state.answers["nik"]) is not None:
            return Submitted(reference=None, error="duplicate_nik")
        consent = await repo.latest_consent(self.channel_user)
        try:
            async with repo.session.begin_nested():
                registration = await repo.create_registration(
                    state.answers, self.channel_user, state.lang or self.svc.rules.default_language,
                    consent.id if consent else None, now,
                )
        except IntegrityError:
            # The same NIK was submitted at the same moment through another conversation.
            return Submitted(reference=None, error="duplicate_nik")
        await repo.audit(self.channel_user, "submitted", now, registration.reference,
                         nagari=registration.nagari_code, flags=registration.flags)
        return Submitted(reference=registration.reference)

    async def delete_my_data(self) -> DataDeleted:
        """UU 27/2022: undecided registrations are erased at once; decided ones are flagged for
        the nagari's operator, who must also withdraw the enrolment at BPJS."""
        repo, now, who = self.repo, self.ctx.now, self.channel_user
        registrations = await repo.registrations_of(who)
        # Nothing to withdraw at BPJS for an undecided, rejected or withdrawn registration.
        erasable = [r for r in registrations if r.status in (*UNDECIDED, "rejected", "withdrawn", "ended")]
        decided = [r for r in registrations if r not in erasable]
        erased = await repo.delete_registrations(erasable)
        for registration in decided:
            if registration.status != "deletion_requested":
                await repo.audit(who, "deletion_requested", now, registration.reference,
                                 previous_status=registration.status)
                registration.status = "deletion_requested"
                registration.updated_at = now
        consent = await repo.latest_consent(who)
        if consent is not None:
            consent.withdrawn_at = now
        # The record that a deletion happened holds no personal data beyond the channel id.
        await repo.audit(who, "data_erased", now, None, registrations=erased,
                         references=[r.reference for r in erasable])
        return DataDeleted(erased=erased, requested=tuple(r.reference for r in decided))

    async def correct(self, effect: CorrectField) -> FieldCorrected:
        repo, now, who = self.repo, self.ctx.now, self.channel_user
        registration = await repo.registration(effect.reference)
        if registration is None or registration.channel_user != who or registration.status not in UNDECIDED:
            return FieldCorrected(effect.reference, ok=False)
        try:
            async with repo.session.begin_nested():
                changed = repo.apply_fields(registration, dict(effect.value), now)
        except IntegrityError:
            return FieldCorrected(effect.reference, ok=False)
        await repo.audit(who, "corrected_by_worker", now, registration.reference, fields=changed)
        return FieldCorrected(effect.reference, ok=True,
                              next_group=await self.after_correction(registration, int(effect.field), changed))

    async def after_correction(self, registration: Registration, group: int, changed: list[str]) -> int | None:
        """An official's correction request walks through its groups, then the registration
        returns to the queue (issue 5); a waiting one moved to another nagari leaves that
        nagari's waiting list and needs a new decision there."""
        if registration.status == "correction":
            following = await next_correction_group(self.repo.session, registration.reference, group, self.ctx.now)
            if following is None:
                registration.status = "pending"
            return following
        if registration.status == "waiting" and "nagari_code" in changed:
            registration.status = "pending"
        return None


def mark_inbound(person: Person, now: datetime) -> None:
    person.last_inbound_at = now
    # Someone who writes can be reached again (they unblocked the bot, or the failures that
    # stopped messages to them are over).
    person.failed_deliveries = 0
    person.unreachable = False


async def record_inbound(svc: Services, channel_user: str) -> None:
    """Note that a person wrote, for messages handled outside the registration flow."""
    now = svc.clock.now()
    async with svc.db.session() as session:
        mark_inbound(await Repository(session, svc.cipher).person(channel_user, now, svc.rules.default_language), now)
        await session.commit()


def known_phone_of(channel_user: str) -> str | None:
    """WhatsApp ids are the sender's number without "+" (unless hidden behind a business-scoped
    id); offered for confirmation, never assumed."""
    if channel_user.startswith("wa:"):
        digits = channel_user[3:]
        if digits.isdigit() and digits.startswith("62"):
            return "+" + digits
    return None


# Work to do inside the handler's transaction (e.g. marking the inbox update handled), so that
# the new state and "this update is done" are committed together or not at all.
InTransaction = Callable[[AsyncSession], Awaitable[None]]


async def handle_message(svc: Services, channel_user: str, event: Inbound, known_phone: str | None = None,
                         in_transaction: InTransaction | None = None) -> list[Reply]:
    """Handle one inbound event from one person; returns the replies to send, in order."""
    async with svc.locks.hold(channel_user), one_writer(svc):
        try:
            return await _handle_retrying(svc, channel_user, event, known_phone, in_transaction)
        except Exception:
            # Never let one message crash the bot; log without its content (it may hold a NIK).
            log.exception("failed to handle a %s from %s", type(event).__name__, channel_user)
            return [Reply("error.internal", svc.catalog.text(svc.rules.default_language, "error.internal"))]


def one_writer(svc: Services) -> AbstractAsyncContextManager[None]:
    """SQLite allows one writer at a time and every turn writes: turns take their turn in this
    process instead of colliding in the database (see _is_busy for other processes)."""
    return svc.locks.hold(SQLITE_WRITER) if svc.db.is_sqlite else nullcontext()


def _is_busy(problem: OperationalError) -> bool:
    """SQLite lets one writer at a time: a transaction that read before another one committed
    cannot write (SQLITE_BUSY/BUSY_SNAPSHOT, "database is locked"), and busy_timeout does not
    help. Nothing was committed, so the whole turn may simply run again."""
    return "database is locked" in str(problem.orig)


async def _handle_retrying(svc: Services, channel_user: str, event: Inbound, known_phone: str | None,
                           in_transaction: InTransaction | None) -> list[Reply]:
    for attempt in range(BUSY_RETRIES):
        try:
            return await _handle(svc, channel_user, event, known_phone, in_transaction)
        except OperationalError as problem:
            if not _is_busy(problem) or attempt == BUSY_RETRIES - 1:
                raise
            # Jittered back-off so that two writers that collided do not collide again.
            await asyncio.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _handle(svc: Services, channel_user: str, event: Inbound, known_phone: str | None,
                  in_transaction: InTransaction | None) -> list[Reply]:
    now = svc.clock.now()
    async with svc.db.session() as session:
        repo = Repository(session, svc.cipher)
        person = await repo.person(channel_user, now, svc.rules.default_language)
        state = await repo.load_state(channel_user)
        ctx = Ctx(
            rules=svc.rules, catalog=svc.catalog, wilayah=svc.wilayah, now=now.astimezone(LOCAL_TZ),
            channel_user=channel_user, known_phone=known_phone or known_phone_of(channel_user),
        )
        outcome, replies = await Turn(svc, repo, channel_user, ctx).run(state, event)
        if outcome.forget:
            await repo.forget_state(channel_user)
        else:
            await repo.save_state(channel_user, outcome.state, now)
        if outcome.forget and not await repo.registrations_of(channel_user):
            # Consent refused or everything erased: "keeps nothing" (UU 27/2022) includes the
            # channel id, which on WhatsApp is the phone number. Someone whose approved
            # registration is still being withdrawn stays reachable.
            await repo.forget_person(person)
        else:
            if outcome.state.lang:
                person.lang = outcome.state.lang
            mark_inbound(person, now)
        if in_transaction is not None:
            await in_transaction(session)
        await session.commit()
    log.info("handled %s from %s -> step %s, %d replies", type(event).__name__, channel_user,
             outcome.state.step, len(replies))
    return replies

