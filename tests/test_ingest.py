"""The inbox as a use-case: an update is handled once, in order; a failed turn is left for later
(not retried in a loop, not lost); a reply-only command still finishes its update."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from conversations.events import Inbound, Text
from handlers import ingest
from handlers.router import Outgoing
from handlers.services import Services
from storage.inbox import InboundUpdate


def decode(payload: dict[str, Any]) -> tuple[Inbound | None, str | None]:
    return Text(payload["text"]), None


async def rows(svc: Services) -> list[InboundUpdate]:
    async with svc.db.session() as session:
        return list((await session.execute(select(InboundUpdate).order_by(InboundUpdate.seq))).scalars())


async def test_updates_are_handled_once_and_in_order(svc: Services) -> None:
    sent: list[Outgoing] = []

    async def deliver(outgoing: list[Outgoing]) -> None:
        sent.extend(outgoing)

    # Recorded out of order, as concurrent webhook requests may be; handled by update order.
    assert await ingest.accept(svc, "tg", "11", 11, "tg:7", {"text": "halo"})
    assert await ingest.accept(svc, "tg", "12", 12, "tg:7", {"text": "English"})
    assert not await ingest.accept(svc, "tg", "11", 11, "tg:7", {"text": "halo"})  # redelivery
    assert await ingest.drain(svc, "tg:7", decode, deliver) == 2
    assert [o.reply.key for o in sent] == ["welcome", "consent.prompt"]
    assert all(r.handled_at is not None and r.payload_enc is None for r in await rows(svc))
    assert await ingest.drain(svc, "tg:7", decode, deliver) == 0


async def test_a_failed_turn_is_left_for_later_not_retried_in_a_loop(svc: Services) -> None:
    sent: list[Outgoing] = []

    async def deliver(outgoing: list[Outgoing]) -> None:
        sent.extend(outgoing)

    await ingest.accept(svc, "tg", "21", 21, "tg:8", {"text": "halo"})
    async with svc.db.session() as session:  # the turn cannot store its state
        await session.execute(text("ALTER TABLE conversation RENAME TO conversation_away"))
        await session.commit()
    assert await ingest.drain(svc, "tg:8", decode, deliver) == 0
    assert [o.reply.key for o in sent] == ["error.internal"]  # told once, not five times
    [row] = await rows(svc)
    assert row.handled_at is None and row.attempts == 1 and row.payload_enc is not None

    async with svc.db.session() as session:  # fixed: the next drain (next message) handles it
        await session.execute(text("ALTER TABLE conversation_away RENAME TO conversation"))
        await session.commit()
    assert await ingest.drain(svc, "tg:8", decode, deliver) == 1
    assert sent[-1].reply.key == "welcome"
