"""Use-case: an update arrived from a platform webhook or poll.

`accept` records it (deduplicated) and commits: only then may the webhook answer 200.
`drain` handles one person's recorded updates strictly in order, under that person's lock; each
update is marked handled in the same transaction that stores the conversation's new state, so an
update is handled exactly once even across a crash. `recover` drains everyone with updates left
unhandled by a process that died. Replies are sent after that commit: a crash in between loses
the reply (the person writes again and is asked the same question), never their answer.

What is recorded is the platform's JSON as it arrived; the channel's decoder turns it into an
event only when it is handled. A decoder that cannot read a payload raises `Undecodable`: the
update is set aside (kept in the inbox, one WARNING line) instead of being retried for ever.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Inbound
from handlers.inbound import one_writer
from handlers.router import Outgoing, dispatch
from handlers.services import Services
from storage.crypto import who
from storage.inbox import Inbox

log = logging.getLogger(__name__)
# Parses a recorded payload back into (event, known_phone); each channel adapter provides one. It
# may be async: a channel downloads an attached document before the turn that reads it.
Decoded = tuple[Inbound | None, str | None]
Decoder = Callable[[dict[str, Any]], Decoded | Awaitable[Decoded]]
# Delivers what handling produced (the channel's sender); awaited before the update is finished.
Deliver = Callable[[list[Outgoing]], Awaitable[None]]
# Updates that failed this many times are set aside (logged) instead of blocking the person.
MAX_ATTEMPTS = 5


class Undecodable(Exception):
    """A recorded payload the channel cannot read: `kind` is the update's kind as far as it can
    tell ("message", "callback_query", ...), `why` a short reason without the payload's values."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(f"{kind}: {why}")
        self.kind, self.why = kind, why


async def accept(svc: Services, channel: str, update_key: str, seq: int, channel_user: str,
                 payload: dict[str, Any]) -> bool:
    """Record one update; False for a duplicate. Committed when this returns."""
    # On SQLite, queue behind the turns in this process rather than in SQLite's busy handler,
    # whose growing sleeps would hold the webhook's answer far longer than the turns take.
    async with one_writer(svc), svc.db.session() as session:
        fresh = await Inbox(session, svc.cipher).record(channel, update_key, seq, channel_user, payload, svc.clock.now())
        await session.commit()
    return fresh


async def drain(svc: Services, channel_user: str, decode: Decoder, deliver: Deliver) -> int:
    """Handle every unhandled update of one person, oldest first. Returns how many.

    Attempts are counted only when one fails, here or (for a crash) in `recover`: the usual
    update costs no write beyond the turn's own transaction."""
    handled = 0
    async with svc.locks.hold(f"inbox:{channel_user}"):
        while True:
            async with svc.db.session() as session:
                inbox = Inbox(session, svc.cipher)
                row = await inbox.next_for(channel_user)
                if row is None:
                    return handled
                row_id, attempts, payload = row.id, row.attempts, inbox.payload(row)
                update_key = row.update_key
            assert row_id is not None
            if attempts >= MAX_ATTEMPTS:
                log.error("update %s of %s failed %d times: set aside", row_id, who(channel_user), attempts)
                await _set_aside(svc, row_id, f"failed {attempts} times")
                handled += 1
                continue
            try:
                event, known_phone = await _decode(decode, payload)
            except Undecodable as problem:
                log.warning("update %s (row %s, %s) of %s cannot be decoded, set aside: %s", update_key, row_id,
                            problem.kind, who(channel_user), problem.why)
                await _set_aside(svc, row_id, str(problem))
                handled += 1
                continue
            except Exception:
                await _count_attempt(svc, row_id)  # e.g. an attachment's download failed
                raise
            if event is None:  # nothing the conversation handles (e.g. an edited message)
                await _finish_alone(svc, row_id)
                handled += 1
                continue
            committed = [False]

            async def finish(session: AsyncSession, row_id: int = row_id) -> None:
                await Inbox(session, svc.cipher).finish(row_id, svc.clock.now())
                # Known only once the handler's transaction really commits (no extra query).
                sa_event.listen(session.sync_session, "after_commit",
                                lambda _session: committed.__setitem__(0, True), once=True)

            outgoing = await dispatch(svc, channel_user, event, known_phone, finish)
            await deliver(outgoing)
            if not committed[0]:
                # The turn failed and rolled back (the person was told to try again): leave the
                # update for the next message or restart instead of retrying in a loop.
                await _count_attempt(svc, row_id)
                log.warning("update %s of %s not handled (attempt %d); left for later", row_id, who(channel_user),
                            attempts + 1)
                return handled
            handled += 1


async def _finish_alone(svc: Services, row_id: int) -> None:
    async with svc.db.session() as session:
        await Inbox(session, svc.cipher).finish(row_id, svc.clock.now())
        await session.commit()


async def _set_aside(svc: Services, row_id: int, reason: str) -> None:
    async with svc.db.session() as session:
        await Inbox(session, svc.cipher).set_aside(row_id, reason, svc.clock.now())
        await session.commit()


async def _count_attempt(svc: Services, row_id: int) -> None:
    async with svc.db.session() as session:
        await Inbox(session, svc.cipher).mark_attempt(row_id)
        await session.commit()


async def _decode(decode: Decoder, payload: dict[str, Any]) -> Decoded:
    decoded = decode(payload)
    return await decoded if inspect.isawaitable(decoded) else decoded


async def recover(svc: Services, decoders: dict[str, Decoder], deliverers: dict[str, Deliver],
                  grace: timedelta = timedelta(seconds=0)) -> int:
    """After a restart: handle updates recorded but never finished (the process died).

    Each person's oldest such update may be the one that killed the process: it counts as an
    attempt, so an update that crashes every time is set aside after MAX_ATTEMPTS restarts."""
    async with svc.db.session() as session:
        people = await Inbox(session, svc.cipher).people_with_pending(svc.clock.now() - grace)
    total = 0
    for channel_user in people:
        channel = channel_user.split(":", 1)[0]
        if channel not in decoders:
            continue
        async with svc.locks.hold(f"inbox:{channel_user}"):
            async with svc.db.session() as session:
                inbox = Inbox(session, svc.cipher)
                oldest = await inbox.next_for(channel_user)
                if oldest is not None and oldest.id is not None:
                    await inbox.mark_attempt(oldest.id)
                    await session.commit()
        total += await drain(svc, channel_user, decoders[channel], deliverers[channel])
    if total:
        log.info("recovered %d unfinished updates", total)
    return total
