"""Use-case: "berhenti"/"stop" and "mulai"/"start" -- campaign and reminder subscription.

- `berhenti` / `stop` (also `/stop`): Person.opted_out = True; the bot confirms and says how to
  come back. Campaigns and reminders are skipped from then on (handlers/outbox.py); messages
  about the person's own registration (transactional) still go. A registration in progress is
  untouched: "batal" cancels it, as before.
- `mulai` / `start` (also `/start`, Telegram's first command): these also start the
  registration, so the interceptor does not answer them. For an opted-out person it turns the
  subscription back on *inside the registration turn's own transaction* (so both commit or
  neither) and puts a confirmation before the flow's replies; for everyone else it does nothing.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Inbound, Reply, Text
from conversations.validators import normalize_text
from handlers.inbound import InTransaction, handle_message
from handlers.router import INTERCEPTORS, Outgoing
from handlers.services import Services
from storage.models import Person
from storage.repo import Repository

STOP_WORDS = frozenset({"berhenti", "stop", "unsubscribe", "berhenti langganan"})
START_WORDS = frozenset({"mulai", "start"})


def word_of(event: Inbound) -> str | None:
    return normalize_text(event.text.lstrip("/")) if isinstance(event, Text) else None


async def opt_out(svc: Services, channel_user: str, in_transaction: InTransaction | None) -> list[Outgoing]:
    """Stops campaigns and reminders for this person."""
    async with svc.locks.hold(channel_user):
        now = svc.clock.now()
        async with svc.db.session() as session:
            repo = Repository(session, svc.cipher)
            person = await repo.person(channel_user, now, svc.rules.default_language)
            person.opted_out = True
            lang = person.lang
            await repo.audit(channel_user, "opted_out", now)
            if in_transaction is not None:
                await in_transaction(session)
            await session.commit()
    return [Outgoing(channel_user, Reply("optout.done", svc.catalog.text(lang, "optout.done")))]


async def opt_back_in(svc: Services, channel_user: str, event: Inbound,
                      in_transaction: InTransaction | None) -> list[Outgoing]:
    """Turns campaigns and reminders back on, then lets the registration flow answer "mulai"."""
    async def resubscribe(session: AsyncSession) -> None:
        await session.execute(update(Person).where(Person.channel_user == channel_user).values(opted_out=False))
        await Repository(session, svc.cipher).audit(channel_user, "opted_in", svc.clock.now())
        if in_transaction is not None:
            await in_transaction(session)

    replies = await handle_message(svc, channel_user, event, in_transaction=resubscribe)
    if any(r.key == "error.internal" for r in replies):
        return [Outgoing(channel_user, r) for r in replies]
    async with svc.db.session() as session:
        person = await Repository(session, svc.cipher).person(channel_user, svc.clock.now(), svc.rules.default_language)
        lang = person.lang
    confirm = Reply("optout.resumed", svc.catalog.text(lang, "optout.resumed"))
    return [Outgoing(channel_user, confirm), *(Outgoing(channel_user, r) for r in replies)]


async def is_opted_out(svc: Services, channel_user: str) -> bool:
    async with svc.db.session() as session:
        opted_out = await session.execute(select(Person.opted_out).where(Person.channel_user == channel_user))
        return bool(opted_out.scalar_one_or_none())


async def subscription_interceptor(svc: Services, channel_user: str, event: Inbound,
                                   in_transaction: InTransaction | None) -> list[Outgoing] | None:
    """Answers "berhenti"/"stop"; re-subscribes an opted-out person who says "mulai"/"start"."""
    word = word_of(event)
    if word in STOP_WORDS:
        return await opt_out(svc, channel_user, in_transaction)
    if word in START_WORDS and await is_opted_out(svc, channel_user):
        if await has_submitted(svc, channel_user):
            return await resubscribe_only(svc, channel_user, in_transaction)
        return await opt_back_in(svc, channel_user, event, in_transaction)
    return None


async def has_submitted(svc: Services, channel_user: str) -> bool:
    """Someone with a registration who is not in the middle of a form: for them "mulai" only
    means "messages on again", never a new form (which would make `status` say "unfinished")."""
    async with svc.db.session() as session:
        repo = Repository(session, svc.cipher)
        if not await repo.registrations_of(channel_user):
            return False
        return not (await repo.load_state(channel_user)).in_form


async def resubscribe_only(svc: Services, channel_user: str, in_transaction: InTransaction | None) -> list[Outgoing]:
    async with svc.locks.hold(channel_user):
        now = svc.clock.now()
        async with svc.db.session() as session:
            repo = Repository(session, svc.cipher)
            person = await repo.person(channel_user, now, svc.rules.default_language)
            person.opted_out, lang = False, person.lang
            await repo.audit(channel_user, "opted_in", now)
            if in_transaction is not None:
                await in_transaction(session)
            await session.commit()
    return [Outgoing(channel_user, Reply("optout.resumed", svc.catalog.text(lang, "optout.resumed")))]


INTERCEPTORS.append(subscription_interceptor)
