"""The inbox as a use-case: an update is handled once, in order; a failed turn is left for later
(not retried in a loop, not lost); a reply-only command still finishes its update."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, text

from conversations.events import Inbound, Text
from handlers import ingest
from handlers.delivery import Outgoing
from handlers.services import Services
from handlers.turn import Turn, take_turn
from storage.inbox import Inbox, InboundUpdate
from storage.models import AuditEvent
from tests.conftest import RecordingSender


def decode(payload: dict[str, Any]) -> tuple[Inbound | None, str | None]:
    return Text(payload["text"]), None


def recorded(svc: Services) -> list[Outgoing]:
    """Every message the turns send, through a recording sender on both channels."""
    sent: list[Outgoing] = []
    for channel in ("tg", "wa"):
        sender = RecordingSender(channel)
        sender.sent = sent
        svc.senders[channel] = sender
    return sent


async def rows(svc: Services) -> list[InboundUpdate]:
    async with svc.db.session() as session:
        return list((await session.execute(select(InboundUpdate).order_by(InboundUpdate.seq))).scalars())


async def test_updates_are_handled_once_and_in_order(svc: Services) -> None:
    sent = recorded(svc)

    # Recorded out of order, as concurrent webhook requests may be; handled by update order.
    assert await ingest.accept(svc, "tg", "11", 11, "tg:7", {"text": "halo"})
    assert await ingest.accept(svc, "tg", "12", 12, "tg:7", {"text": "English"})
    assert not await ingest.accept(svc, "tg", "11", 11, "tg:7", {"text": "halo"})  # redelivery
    assert await ingest.drain(svc, "tg:7", decode) == 2
    assert [o.reply.key for o in sent] == ["welcome", "consent.prompt"]
    assert all(r.handled_at is not None and r.payload_enc is None for r in await rows(svc))
    assert await ingest.drain(svc, "tg:7", decode) == 0


async def test_what_this_process_recorded_is_handled_without_reading_it_back_but_never_out_of_order(
        svc: Services) -> None:
    """The drain takes the updates this process just recorded from memory; each turn checks
    that its update is the person's oldest unhandled one, so an older update (recorded out of
    order, or by another process) still goes first, and one handled elsewhere is not handled
    twice."""
    sent = recorded(svc)
    # Recorded newest first, as two concurrent webhook requests may be.
    assert await ingest.accept(svc, "tg", "32", 32, "tg:9", {"text": "English"})
    assert await ingest.accept(svc, "tg", "31", 31, "tg:9", {"text": "halo"})
    assert [key for _, key, _ in svc.fresh["tg:9"]] == ["32", "31"]
    assert await ingest.drain(svc, "tg:9", decode) == 2
    assert [o.reply.key for o in sent] == ["welcome", "consent.prompt"]
    assert "tg:9" not in svc.fresh

    # Another process recorded one first (this process knows nothing of it), then this one.
    async with svc.db.session() as session:
        await Inbox(session, svc.cipher).record("tg", "33", 33, "tg:9", {"text": "halo"}, svc.clock.now())
        await session.commit()
    assert await ingest.accept(svc, "tg", "34", 34, "tg:9", {"text": "halo"})
    assert await ingest.drain(svc, "tg:9", decode) == 2
    assert all(r.handled_at is not None for r in await rows(svc))

    # One this process recorded but another process handled before this drain ran.
    assert await ingest.accept(svc, "tg", "35", 35, "tg:9", {"text": "halo"})
    async with svc.db.session() as session:
        await session.execute(text("UPDATE inbound_update SET handled_at = received_at, payload_enc = NULL "
                                   "WHERE update_key = '35'"))
        await session.commit()
    before = len(sent)
    assert await ingest.drain(svc, "tg:9", decode) == 0
    assert len(sent) == before


async def test_a_route_s_orm_writes_and_the_turn_s_closing_writes_are_one_transaction(any_svc: Services) -> None:
    """On PostgreSQL a turn's closing writes are their own transaction only when nothing else was
    written: an ORM object a route added goes in the same commit, and one that cannot be
    written takes the whole turn with it (no reply claimed, the update still waiting)."""
    svc = any_svc
    recorded(svc)

    async def audits_then_answers(turn: Turn) -> bool:
        await turn.repo.audit(turn.who, "note", turn.now)  # added to the session, not flushed
        turn.reply(turn.say("welcome"))
        return True

    async def breaks_then_answers(turn: Turn) -> bool:
        turn.session.add(AuditEvent(at=None, actor=turn.who, action="broken", details={}))  # NOT NULL at
        turn.reply(turn.say("welcome"))
        return True

    async def state() -> tuple[list[str], list[str], list[tuple[str, bool]]]:
        async with svc.db.session() as session:
            audits = (await session.execute(text("SELECT action FROM auditevent WHERE actor = 'tg:61'"))).scalars()
            keys = (await session.execute(
                text("SELECT key FROM outbox WHERE channel_user = 'tg:61' ORDER BY id"))).scalars()
            inbox = (await session.execute(text("SELECT update_key, handled_at IS NOT NULL FROM inbound_update "
                                                "WHERE channel_user = 'tg:61' ORDER BY id"))).all()
            return list(audits), list(keys), [(key, bool(done)) for key, done in inbox]

    for key, route in (("61", audits_then_answers), ("62", breaks_then_answers)):
        assert await ingest.accept(svc, "tg", key, int(key), "tg:61", {"text": "halo"})
        [(row_id, _, _)] = svc.fresh.pop("tg:61")
        result = await take_turn(svc, (route,), "tg:61", Text("halo"), inbox_id=row_id)
        assert result.committed == (key == "61")
    assert await state() == (["note"], ["welcome", "error.internal"], [("61", True), ("62", False)])


async def test_a_failed_turn_is_left_for_later_not_retried_in_a_loop(svc: Services) -> None:
    sent = recorded(svc)

    await ingest.accept(svc, "tg", "21", 21, "tg:8", {"text": "halo"})
    async with svc.db.session() as session:  # the turn cannot store its state
        await session.execute(text("ALTER TABLE conversation RENAME TO conversation_away"))
        await session.commit()
    assert await ingest.drain(svc, "tg:8", decode) == 0
    assert [o.reply.key for o in sent] == ["error.internal"]  # told once, not five times
    [row] = await rows(svc)
    assert row.handled_at is None and row.attempts == 1 and row.payload_enc is not None

    async with svc.db.session() as session:  # fixed: the next drain (next message) handles it
        await session.execute(text("ALTER TABLE conversation_away RENAME TO conversation"))
        await session.commit()
    assert await ingest.drain(svc, "tg:8", decode) == 1
    assert sent[-1].reply.key == "welcome"


async def test_an_update_that_kills_the_process_every_time_is_set_aside(svc: Services) -> None:
    """Each restart's recovery counts an attempt on the update that was in flight; after
    MAX_ATTEMPTS the update is set aside and the person's next updates flow again."""
    sent = recorded(svc)

    def crashing(payload: dict[str, Any]) -> tuple[Inbound | None, str | None]:
        if payload["text"] == "poison":
            raise SystemExit("the process dies here")
        return decode(payload)

    await ingest.accept(svc, "wa", "p1", 1, "wa:628111", {"text": "poison"})
    await ingest.accept(svc, "wa", "p2", 2, "wa:628111", {"text": "halo"})
    svc.clock.advance(timedelta(seconds=1))  # recovery looks at updates received before now
    for _restart in range(ingest.MAX_ATTEMPTS - 1):
        try:
            await ingest.recover(svc, {"wa": crashing})
        except SystemExit:
            continue
        raise AssertionError("the poison update should have been tried again")
    assert await ingest.recover(svc, {"wa": crashing}) == 2
    assert [o.reply.key for o in sent] == ["welcome"]
    assert all(r.handled_at is not None for r in await rows(svc))


async def test_handled_updates_are_forgotten_after_the_redelivery_window(svc: Services) -> None:
    from handlers.maintenance import INBOX_DEDUPE_WINDOW, run_due

    await ingest.accept(svc, "wa", "w1", 1, "wa:628222", {"text": "halo"})
    await ingest.drain(svc, "wa:628222", decode)
    svc.clock.advance(INBOX_DEDUPE_WINDOW - timedelta(minutes=1))
    await run_due(svc)
    assert not await ingest.accept(svc, "wa", "w1", 1, "wa:628222", {"text": "halo"})  # still a duplicate
    svc.clock.advance(timedelta(minutes=2))
    await run_due(svc)
    assert await rows(svc) == []
