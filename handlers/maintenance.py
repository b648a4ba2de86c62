"""Use-cases run by the clock rather than by a message: what is due at a given moment."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete

from conversations.state import IDLE_STEPS
from handlers.services import Services
from storage.inbox import Inbox
from storage.models import Conversation

log = logging.getLogger(__name__)
# Handled updates are kept only to recognise redeliveries: Meta redelivers a webhook for up to
# 7 days, Telegram keeps updates for 24 hours (docs/domain.md, platform limits).
INBOX_DEDUPE_WINDOW = timedelta(days=8)


async def purge_expired_drafts(svc: Services, now: datetime) -> int:
    """Delete unfinished registrations untouched for `draft_expiry_days` (data minimisation,
    UU 27/2022): the person is asked to start again if they come back."""
    cutoff = now - timedelta(days=svc.rules.conversation.draft_expiry_days)
    async with svc.db.session() as session:
        result = await session.execute(
            delete(Conversation).where(Conversation.updated_at < cutoff, Conversation.step.not_in(IDLE_STEPS))
        )
        await session.commit()
    purged = result.rowcount or 0
    if purged:
        log.info("purged %d expired drafts", purged)
    return purged


async def purge_handled_updates(svc: Services, now: datetime) -> int:
    """Forget inbox rows (already without payload) once no platform can deliver them again."""
    async with svc.db.session() as session:
        purged = await Inbox(session, svc.cipher).purge(now - INBOX_DEDUPE_WINDOW)
        await session.commit()
    return purged


async def run_due(svc: Services) -> list[tuple[str, object]]:
    """Run everything due at the clock's current time. Returns (channel_user, Reply) pairs of
    messages to deliver, for jobs that produce messages."""
    now = svc.clock.now()
    await purge_expired_drafts(svc, now)
    await purge_handled_updates(svc, now)
    messages: list[tuple[str, object]] = []
    for job in svc.due_jobs:
        messages.extend(await job(svc, now) or [])
    return messages
