"""Use-case: an update arrived from a platform webhook or poll.

`accept` records it (deduplicated) and commits: only then may the webhook answer 200.
`drain` handles one person's recorded updates strictly in order, under that person's one lock:
each is one turn (handlers/turn.py) that marks the update handled in the same transaction as
the conversation's new state and its replies (outbox rows), so an update is handled exactly
once even across a crash; the replies are sent right after that commit, and a crash in between
leaves them in the outbox, sent on restart. `recover` drains, several people at a time,
everyone with updates left unhandled by a process that died.

What is recorded is the platform's JSON as it arrived; the channel's decoder turns it into an
event only when it is handled. A decoder that cannot read a payload raises `Undecodable`: the
update is set aside (kept in the inbox, one WARNING line) instead of being retried for ever.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from conversations.events import Inbound
from handlers import metrics, outbox, router
from handlers.batching import GroupCommit
from handlers.clock import LOCAL_TZ
from handlers.outbox import NewMessage, delivery_rules, enqueue, one_writer, send_claimed
from handlers.services import Services
from storage.crypto import who
from storage.inbox import Arrived, Inbox, payload_of, pending_for, record_in
from storage.models import Person

log = logging.getLogger(__name__)
# Parses a recorded payload back into (event, known_phone); each channel adapter provides one. It
# may be async: a channel downloads an attached document before the turn that reads it.
Decoded = tuple[Inbound | None, str | None]
Decoder = Callable[[dict[str, Any]], Decoded | Awaitable[Decoded]]
# Updates that failed this many times are set aside (logged) instead of blocking the person.
MAX_ATTEMPTS = 5
# People whose unfinished updates are recovered at the same time after a restart: recovery
# catches up at the platform's overall rate (the senders pace it), not one chat's.
RECOVERY_CONCURRENCY = 16
# Hints of just-recorded updates (Services.fresh) are dropped when this many people have some:
# a channel whose updates are never drained here cannot make them grow without bound.
FRESH_PEOPLE = 10_000


class Undecodable(Exception):
    """A recorded payload the channel cannot read: `kind` is the update's kind as far as it can
    tell ("message", "callback_query", ...), `why` a short reason without the payload's values."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(f"{kind}: {why}")
        self.kind, self.why = kind, why


async def accept(svc: Services, channel: str, update_key: str, seq: int, channel_user: str,
                 payload: dict[str, Any], body: str | None = None) -> bool:
    """Record one update (`body`: its JSON text as it arrived, if it came alone); False for a
    duplicate. Committed when this returns."""
    if svc.recorder is None:
        svc.recorder = GroupCommit(partial(_record_batch, svc))
    return await svc.recorder.submit(Arrived(channel, update_key, seq, channel_user, payload, body))


async def _record_batch(svc: Services, updates: Sequence[Arrived]) -> list[bool]:
    """The updates that arrived together, in one transaction (handlers/batching.py)."""
    # On SQLite, queue behind the turns in this process rather than in SQLite's busy handler,
    # whose growing sleeps would hold the webhook's answer far longer than the turns take.
    # A unit of work (storage/hot.Unit), not an ORM session: one INSERT (on PostgreSQL its own
    # transaction) and, on SQLite, its commit.
    async with one_writer(svc), svc.db.unit() as unit:
        ids = await record_in(unit, svc.cipher, updates, svc.clock.now())
        await unit.commit()
    if len(svc.fresh) > FRESH_PEOPLE:
        svc.fresh.clear()  # hints only: drains then read the inbox, as after a restart
    for arrived, row_id in zip(updates, ids):
        if row_id is not None:
            svc.fresh.setdefault(arrived.channel_user, []).append((row_id, arrived.update_key, arrived.payload))
            metrics.received(arrived.channel)
    return [row_id is not None for row_id in ids]


async def drain(svc: Services, channel_user: str, decode: Decoder) -> int:
    """Handle the recorded, unhandled updates of one person, oldest first, and send their
    replies; returns how many were handled. The caller drains again if more arrived meanwhile.

    Attempts are counted only when one fails, here or (for a crash) in `recover`: the usual
    update costs no write beyond its turn's own transaction."""
    async with svc.locks.hold(channel_user):
        # What this process just recorded, if anything: no need to read it back (the turns
        # check that each is the oldest waiting, and say so when it is not).
        hinted = [(row_id, key, 0, payload) for row_id, key, payload in svc.fresh.pop(channel_user, ())]
        if len(hinted) > 1:  # a burst: one person's backlog is bounded before any turn runs
            kept = await trim_backlog(svc, channel_user)
            if kept is not None:
                hinted = [hint for hint in hinted if hint[0] in kept]
        handled, out_of_order = await _handle(svc, channel_user, decode, hinted) if hinted else (0, True)
        if out_of_order:
            rows = await pending_for(svc.db, channel_user)
            if len(rows) > svc.config.limits.backlog_max and await trim_backlog(svc, channel_user) is not None:
                rows = await pending_for(svc.db, channel_user)
            pending = [(row.id, row.update_key, row.attempts, payload_of(svc.cipher, row)) for row in rows]
            more, out_of_order = await _handle(svc, channel_user, decode, pending)
            handled += more
            if out_of_order:
                log.warning("the updates of %s changed while they were being handled; left for later",
                            who(channel_user))
    return handled


async def trim_backlog(svc: Services, channel_user: str) -> set[int] | None:
    """Bound one person's waiting messages (config `limits.backlog_max`): beyond the oldest
    `backlog_max`, the rest are set aside -- kept in the inbox for `inbox list`, not handled --
    and the person is told once an hour to send one message at a time, with one log line then
    (later trims in the same hour are logged at debug level). Returns the ids kept, or None
    when the backlog was within the limit."""
    cap = svc.config.limits.backlog_max
    rows = await pending_for(svc.db, channel_user, limit=cap + 1)
    if len(rows) <= cap:
        return None
    kept = {row.id for row in rows[:cap]}
    now = svc.clock.now()
    dedupe = f"backlog:{channel_user}:{now.astimezone(LOCAL_TZ):%Y%m%d%H}"
    async with one_writer(svc), svc.db.session() as session:
        dropped = await Inbox(session, svc.cipher).set_aside_beyond(channel_user, kept, f"backlog over {cap}", now)
        metrics.set_aside(channel_user, dropped)
        first = not await outbox.has_dedupe(session, dedupe)
        if first:
            lang = (await session.execute(select(Person.lang).where(Person.channel_user == channel_user))).scalar() \
                or svc.config.default_language
            await enqueue(session, [NewMessage(channel_user, "limits.backlog", svc.catalog.text(lang, "limits.backlog"),
                                               "transactional", lang, dedupe)], now, delivery_rules(svc))
        await session.commit()
    if channel_user in svc.fresh:
        svc.fresh[channel_user] = [hint for hint in svc.fresh[channel_user] if hint[0] in kept]
    log.log(logging.WARNING if first else logging.DEBUG,
            "%d waiting messages of %s set aside: more than %d waiting (logged once an hour per person)",
            dropped, who(channel_user), cap)
    return kept


async def _handle(svc: Services, channel_user: str, decode: Decoder,
                  pending: Sequence[tuple[int, str, int, dict[str, Any]]]) -> tuple[int, bool]:
    """`drain`'s work on the updates it found: how many were handled, and whether it stopped at
    one that is not the oldest waiting (True: read the inbox and go on from there).

    In a backlog, a message identical to the one just handled (a stuck phone resending, a
    double tap) is answered once: the copies are finished without a turn."""
    handled = 0
    previous: Inbound | None = None
    kept: set[int] | None = None
    cap = svc.config.limits.backlog_max
    for row_id, update_key, attempts, payload in pending:
        assert row_id is not None
        if handled and len(svc.fresh.get(channel_user, ())) >= cap:
            # Still arriving while this person's turns are paced: bound the backlog again.
            kept = await trim_backlog(svc, channel_user) or kept
        if kept is not None and row_id not in kept:
            continue
        if attempts >= MAX_ATTEMPTS:
            log.error("update %s of %s failed %d times: set aside", row_id, who(channel_user), attempts)
            await _set_aside(svc, row_id, f"failed {attempts} times", channel_user)
            handled += 1
            continue
        try:
            event, known_phone = await _decode(decode, payload)
        except Undecodable as problem:
            log.warning("update %s (row %s, %s) of %s cannot be decoded, set aside: %s", update_key, row_id,
                        problem.kind, who(channel_user), problem.why)
            await _set_aside(svc, row_id, str(problem), channel_user)
            handled += 1
            continue
        except Exception:
            await _count_attempt(svc, row_id)  # e.g. an attachment's download failed
            raise
        if event is None or event == previous:  # nothing to handle (an edited message), or a copy
            await _finish_alone(svc, row_id)
            metrics.handled(channel_user)
            handled += 1
            continue
        previous = event
        result = await router.turn(svc, channel_user, event, known_phone, inbox_id=row_id)
        if result.out_of_order:
            return handled, True
        await send_claimed(svc, result.messages, result.bodies)
        if not result.committed:
            # The turn failed and rolled back (the person was told to try again): leave the
            # update for the next message or restart instead of retrying in a loop.
            log.warning("update %s of %s not handled (attempt %d); left for later", row_id, who(channel_user),
                        attempts + 1)
            return handled, False
        metrics.handled(channel_user)
        handled += 1
    return handled, False


async def _finish_alone(svc: Services, row_id: int) -> None:
    async with one_writer(svc), svc.db.session() as session:
        await Inbox(session, svc.cipher).finish(row_id, svc.clock.now())
        await session.commit()


async def _set_aside(svc: Services, row_id: int, reason: str, channel_user: str) -> None:
    async with one_writer(svc), svc.db.session() as session:
        await Inbox(session, svc.cipher).set_aside(row_id, reason, svc.clock.now())
        await session.commit()
    metrics.set_aside(channel_user)


async def _count_attempt(svc: Services, row_id: int) -> None:
    async with one_writer(svc), svc.db.session() as session:
        await Inbox(session, svc.cipher).mark_attempt(row_id)
        await session.commit()


async def _decode(decode: Decoder, payload: dict[str, Any]) -> Decoded:
    decoded = decode(payload)
    return await decoded if inspect.isawaitable(decoded) else decoded


async def recover(svc: Services, decoders: dict[str, Decoder], grace: timedelta = timedelta(seconds=0)) -> int:
    """After a restart: handle updates recorded but never finished (the process died), several
    people at a time.

    Each person's oldest such update may be the one that killed the process: it counts as an
    attempt, so an update that crashes every time is set aside after MAX_ATTEMPTS restarts."""
    before = svc.clock.now() - grace
    async with svc.db.session() as session:
        people = list(await Inbox(session, svc.cipher).people_with_pending(before))
        people += [p for p in await outbox.people_with_stranded(session, before) if p not in people]
    gate = asyncio.Semaphore(RECOVERY_CONCURRENCY)

    async def one(channel_user: str) -> int | BaseException:
        try:
            return await recover_one(channel_user)
        except (SystemExit, KeyboardInterrupt) as going_down:
            return going_down  # re-raised below, from recover itself, as a crash would be

    async def recover_one(channel_user: str) -> int:
        decode = decoders.get(channel_user.split(":", 1)[0])
        if decode is None:
            return 0
        async with gate:
            async with svc.locks.hold(channel_user):
                async with one_writer(svc), svc.db.session() as session:
                    inbox = Inbox(session, svc.cipher)
                    oldest = await inbox.next_for(channel_user)
                    if oldest is not None and oldest.id is not None:
                        await inbox.mark_attempt(oldest.id)
                    # Replies of committed turns that never went out go first, in order.
                    stranded = await outbox.take_over(session, channel_user, svc.turn_claimer, svc.clock.now())
                    await session.commit()
                await send_claimed(svc, stranded)
            total = 0
            while handled := await drain(svc, channel_user, decode):
                total += handled
            return total

    results = await asyncio.gather(*(one(user) for user in people), return_exceptions=True)
    for user, result in zip(people, results):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # the process is going down (SystemExit, cancellation): as a crash would
        if isinstance(result, BaseException):
            log.error("recovering the updates of %s failed: %s", user, type(result).__name__)
    total = sum(r for r in results if isinstance(r, int))
    if total:
        log.info("recovered %d unfinished updates", total)
    return total
