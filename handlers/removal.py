"""Use-case: an official is removed. Removal means out:

- the grants named are revoked;
- if what they keep no longer lets them invite, every invitation code they made that is still
  unused is revoked (a removed admin cannot come back, nor bring anyone in, with an old code);
- every open ticket they hold that what they keep no longer lets them handle goes back to its
  queue (the nagari's operators, or the admins), with a note to those who now receive it.

Messages go through the outbox (sent by the worker), so the command line can remove someone too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import Say
from handlers.handover import langs_of, may_handle, recipients, ticket_buttons
from handlers.outbox import NewMessage, delivery_rules, enqueue
from handlers.roles import allowed, grants_of
from handlers.services import Services
from storage.officials import Invitation, Official
from storage.repo import Repository
from storage.tickets import OPEN_STATES, Ticket


@dataclass(frozen=True)
class Removed:
    grants: int
    invitations: int
    tickets: list[str]


async def remove_official(svc: Services, session: AsyncSession, channel_user: str, role: str | None,
                          nagari_code: str | None, by: str, now: datetime) -> Removed:
    """Revoke `channel_user`'s grants (all, or those of `role` / `nagari_code`) and everything
    that outlived them. The caller commits."""
    query = select(Official).where(Official.channel_user == channel_user, Official.revoked_at.is_(None))
    if role:
        query = query.where(Official.role == role)
    if nagari_code:
        query = query.where(Official.nagari_code == nagari_code)
    revoked = 0
    for official in (await session.execute(query)).scalars():
        official.revoked_at = now
        revoked += 1
    await session.flush()
    keeps = await grants_of(session, channel_user)

    invitations = 0
    if not allowed(keeps, "invite"):
        result = await session.execute(
            update(Invitation).where(Invitation.created_by == channel_user, Invitation.used_at.is_(None),
                                     Invitation.revoked_at.is_(None))
            .values(revoked_at=now))
        invitations = result.rowcount or 0

    handed_back: list[str] = []
    messages: list[NewMessage] = []
    held = (await session.execute(select(Ticket).where(Ticket.holder == channel_user,
                                                       Ticket.status.in_(OPEN_STATES)))).scalars().all()
    for ticket in held:
        if may_handle(keeps, ticket):
            continue
        await session.execute(update(Ticket).where(Ticket.id == ticket.id)
                              .values(holder=None, status="open", taken_at=None)
                              .execution_options(synchronize_session=False))
        ticket.holder = None
        handed_back.append(ticket.code)
        queue = [who for who in await recipients(session, ticket) if who != channel_user]
        for who, lang in (await langs_of(session, queue, svc.rules.default_language)).items():
            say = Say(svc.catalog, lang)
            messages.append(NewMessage(who, "handover.official.handed_back",
                                       say.t("handover.official.handed_back", code=ticket.code), "transactional",
                                       lang, f"handed_back:{ticket.id}:{who}:{int(now.timestamp())}",
                                       buttons=ticket_buttons(say, ticket)))
    if messages:
        await enqueue(session, messages, now, delivery_rules(svc))
    await Repository(session, svc.cipher).audit(by, "official_removed", now, None, official=channel_user,
                                                grants=revoked, invitations=invitations, tickets=handed_back)
    return Removed(revoked, invitations, handed_back)
