"""Use-case: "a message arrived for the registration conversation" (the last route of a turn).

Let the conversation decide, perform the effects it asks for (feeding their results back) and
store its new state, all inside the turn's transaction (handlers/turn.py), which commits it
together with the replies. A crash before that commit loses nothing the person already gave:
their earlier state is intact and the update is handled again.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from conversations import registration as flow
from conversations.events import (
    CheckNik,
    CorrectField,
    DataDeleted,
    DeleteMyData,
    Effect,
    Event,
    FieldCorrected,
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
from handlers.links import link_event, link_of_submission
from handlers.services import Services
from handlers.turn import Turn
from storage import hot
from storage.crypto import who as pseudonym
from storage.models import Conversation, Person, Registration
from storage.officials_extra import next_correction_group
from storage.repo import UNDECIDED, Repository, consent_later, record_consent
from storage.tickets import erase_for as erase_tickets
from storage.claims import erase_for as erase_claims

log = logging.getLogger(__name__)
# Effects can trigger effects (a NIK check, then a submission); a bound keeps a bug from looping.
MAX_EFFECT_ROUNDS = 4


@dataclass
class Effects:
    """Runs the registration flow on one event and performs the I/O it asks for, inside the
    turn's transaction."""

    svc: Services
    # The turn's repository, asked for only by an effect: most events perform none, and a turn
    # that needs no ORM session makes none (handlers/turn.py).
    open_repo: Callable[[], Repository]
    channel_user: str
    ctx: Ctx
    # The turn's unit of work, for the effects written without the ORM (a consent).
    unit: hot.Unit | None = None

    @functools.cached_property
    def repo(self) -> Repository:
        return self.open_repo()

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
        now, who = self.ctx.now, self.channel_user
        if isinstance(effect, RecordConsent):
            # Assisted registration: consent is given in person to the operator.
            operator = assisted_by(who)
            method = "in_person" if operator else "chat"
            if self.unit is not None:
                # Nothing in the turn reads it back: written with the turn's last statement.
                consent_later(self.unit, who, effect.version, effect.lang, now, method=method, given_to=operator)
            else:
                await record_consent(self.repo.session, who, effect.version, effect.lang, now, method=method,
                                     given_to=operator)
            return None
        if self.unit is not None:
            await self.unit.write_now()  # what this effect reads (a consent) is written first
        repo = self.repo
        if isinstance(effect, CheckNik):
            existing = await repo.registration_by_nik(effect.nik)
            if existing is None:
                return NikChecked(status=None, own=False)
            own = await repo.owns(who, existing)
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
        # The link the person came through is the registration's source (handlers/links.py).
        registration.link_id = await link_of_submission(repo.session, state.link) if state.link else None
        linked = {"link": registration.link_id} if registration.link_id is not None else {}
        await repo.audit(self.channel_user, "submitted", now, registration.reference,
                         nagari=registration.nagari_code, flags=registration.flags, **linked)
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
        # Conversations with officials go with the rest (their messages may hold anything).
        tickets = await erase_tickets(repo.session, who)
        # Claim cases they reported keep only what the statistics count (storage/claims.py).
        await erase_claims(repo.session, who)
        # The record that a deletion happened holds no personal data beyond the channel id.
        await repo.audit(who, "data_erased", now, None, registrations=erased,
                         references=[r.reference for r in erasable], tickets=tickets)
        return DataDeleted(erased=erased, requested=tuple(r.reference for r in decided))

    async def correct(self, effect: CorrectField) -> FieldCorrected:
        repo, now, who = self.repo, self.ctx.now, self.channel_user
        registration = await repo.registration(effect.reference)
        if registration is None or not await repo.owns(who, registration) or registration.status not in UNDECIDED:
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
        returns to the queue; a waiting one moved to another nagari leaves that
        nagari's waiting list and needs a new decision there."""
        if registration.status == "correction":
            following = await next_correction_group(self.repo.session, registration.reference, group, self.ctx.now)
            if following is None:
                registration.status = "pending"
            return following
        if registration.status == "waiting" and "nagari_code" in changed:
            registration.status = "pending"
        return None


def known_phone_of(channel_user: str) -> str | None:
    """WhatsApp ids are the sender's number without "+" (unless hidden behind a business-scoped
    id); offered for confirmation, never assumed."""
    if channel_user.startswith("wa:"):
        digits = channel_user[3:]
        if digits.isdigit() and digits.startswith("62"):
            return "+" + digits
    return None


async def converse(turn: Turn, key: str | None = None, event: Event | None = None) -> list[Reply]:
    """The registration conversation `key` (the person's own; or "assist:<operator>", the one
    an operator fills in for a worker) takes `event` (default: the turn's); its new state is
    written in the turn's transaction. Returns the replies, in order."""
    svc, now = turn.svc, turn.now
    key = key or turn.who
    own = key == turn.who
    event = event or turn.event
    if own:
        state = turn.state()
    else:
        state = await turn.repo.load_state(key)
    ctx = Ctx(
        rules=svc.rules, catalog=svc.catalog, wilayah=svc.wilayah, now=now.astimezone(LOCAL_TZ),
        channel_user=key, known_phone=(turn.known_phone or known_phone_of(key)) if own else None,
    )
    outcome, replies = await Effects(svc, lambda: turn.repo, key, ctx, turn.unit).run(state, event)
    if outcome.forget:
        await turn.unit.write_now()
        await turn.session.execute(delete(Conversation).where(Conversation.channel_user == key))
        if not await turn.repo.registrations_of(key):
            # Consent refused or everything erased: "keeps nothing" (UU 27/2022) includes the
            # channel id, which on WhatsApp is the phone number. Someone whose approved
            # registration is still being withdrawn stays reachable.
            await erase_tickets(turn.session, key)
            await turn.session.execute(delete(Person).where(Person.channel_user == key))
            turn.forgotten = turn.forgotten or own
    elif own:
        await turn.save_state(outcome.state)
        if outcome.state.lang:
            turn.lang = outcome.state.lang
    else:
        await turn.repo.save_state(key, outcome.state, now)
    if log.isEnabledFor(logging.DEBUG):  # the pseudonym is an HMAC: not computed for nothing
        log.debug("%s from %s -> step %s, %d replies", type(event).__name__, pseudonym(key), outcome.state.step,
                  len(replies))
    return replies


async def registration_route(turn: Turn) -> bool:
    """The last route: everything no other route answered goes to the registration flow, a
    message that came through one of our links as `LinkOpened` (handlers/links.py)."""
    turn.reply(*await converse(turn, event=await link_event(turn)))
    return True
