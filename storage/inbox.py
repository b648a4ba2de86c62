"""The inbox: every inbound platform update, recorded before the platform is told "received".

A webhook answers 200 only after its update is committed here, so nothing acknowledged is lost;
the unique (channel, update_key) makes redeliveries (Telegram retries, Meta's 7 days of
redelivery) no-ops. The payload is the platform's JSON as it arrived (parsed as JSON only, never
through a model), so whatever shape a platform sends can be stored. It may hold a NIK the person
typed: it is encrypted, and erased once the update is handled (the row stays, for deduplication,
until purged).

An update that cannot be decoded (a shape the adapter does not understand) or that failed too
often is *set aside*: it counts as handled, so it neither blocks the person nor is retried, but
it keeps its (encrypted) payload and the reason, for `python -m bot inbox list|show`, until the
row is purged with the handled ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import Field, SQLModel

from storage import hot
from storage.crypto import NikCipher
from storage.db import Database
from storage.models import _utc_column


class InboundUpdate(SQLModel, table=True):
    __tablename__ = "inbound_update"
    __table_args__ = (
        UniqueConstraint("channel", "update_key", name="uq_inbound_update_key"),
        Index("ix_inbound_update_pending", "channel_user", "handled_at", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)  # "tg" | "wa"
    update_key: str = Field(max_length=128)  # Telegram update_id, WhatsApp message id (wamid)
    # Order of handling within one person: Telegram's update_id; WhatsApp's timestamp.
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    channel_user: str = Field(max_length=80)
    payload_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = _utc_column(nullable=False)
    handled_at: datetime | None = _utc_column(nullable=True, index=True)
    attempts: int = 0
    # Why the update was set aside instead of handled (None: not set aside).
    set_aside_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


INBOX = InboundUpdate.__table__


@dataclass(frozen=True)
class Pending:
    """An unhandled update as `pending_for` reads it."""

    id: int
    update_key: str
    attempts: int
    payload_enc: str | None


# The statements every update runs, built once.
PENDING_FOR = hot.Prepared(select(INBOX.c.id, INBOX.c.update_key, INBOX.c.attempts, INBOX.c.payload_enc)
                           .where(INBOX.c.channel_user == bindparam("channel_user"), INBOX.c.handled_at.is_(None))
                           .order_by(INBOX.c.seq, INBOX.c.id).limit(bindparam("limit")))
FINISH = hot.Prepared(update(INBOX).where(INBOX.c.id == bindparam("row_id"))
                      .values(handled_at=bindparam("now", type_=INBOX.c.handled_at.type), payload_enc=None))
RECORD = {dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(INBOX).on_conflict_do_nothing(
    index_elements=["channel", "update_key"]).returning(INBOX.c.id, INBOX.c.channel, INBOX.c.update_key)
    for dialect in (postgresql, sqlite)}


@dataclass(frozen=True)
class Arrived:
    """An update as a platform sent it, to be recorded."""

    channel: str
    update_key: str
    seq: int
    channel_user: str
    payload: dict[str, Any]
    # The JSON text exactly as it arrived, when the platform sent this update alone (a Telegram
    # webhook body): stored as it is. None: the payload is written out (a polled batch, one
    # message of a WhatsApp body).
    body: str | None = None


class Inbox:
    def __init__(self, session: AsyncSession, cipher: NikCipher) -> None:
        self.session = session
        self.cipher = cipher

    async def record(self, channel: str, update_key: str, seq: int, channel_user: str,
                     payload: dict[str, Any], now: datetime) -> bool:
        """Store an update; False if it was already recorded (a redelivery). Caller commits."""
        return (await self.record_many([Arrived(channel, update_key, seq, channel_user, payload)], now))[0] is not None

    async def record_many(self, updates: Sequence["Arrived"], now: datetime) -> list[int | None]:
        """`record_many` (the function) on this session's connection. Caller commits."""
        return await record_many(await self.session.connection(), self.cipher, updates, now)

    def payload(self, row: InboundUpdate | Pending) -> dict[str, Any]:
        return payload_of(self.cipher, row)

    async def next_for(self, channel_user: str) -> InboundUpdate | None:
        """The oldest unhandled update of one person (handled strictly in order)."""
        query = (select(InboundUpdate)
                 .where(InboundUpdate.channel_user == channel_user, InboundUpdate.handled_at.is_(None))
                 .order_by(InboundUpdate.seq, InboundUpdate.id).limit(1))
        return (await self.session.execute(query)).scalar_one_or_none()

    async def people_with_pending(self, received_before: datetime | None = None) -> Sequence[str]:
        query = select(InboundUpdate.channel_user).where(InboundUpdate.handled_at.is_(None)).distinct()
        if received_before is not None:
            query = query.where(InboundUpdate.received_at < received_before)
        return (await self.session.execute(query)).scalars().all()

    async def mark_attempt(self, row_id: int) -> None:
        await self.session.execute(
            update(InboundUpdate).where(InboundUpdate.id == row_id).values(attempts=InboundUpdate.attempts + 1))

    async def finish(self, row_id: int, now: datetime) -> None:
        await hot.execute(self.session, FINISH, {"row_id": row_id, "now": now})

    async def set_aside(self, row_id: int, reason: str, now: datetime) -> None:
        """Done with, but kept (payload included) for an operator to inspect."""
        await self.session.execute(
            update(InboundUpdate).where(InboundUpdate.id == row_id).values(handled_at=now,
                                                                          set_aside_reason=reason[:1000]))

    async def set_aside_beyond(self, channel_user: str, kept: set[int], reason: str, now: datetime) -> int:
        """Set aside every unhandled update of one person but those in `kept`; how many."""
        result = await self.session.execute(
            update(InboundUpdate).where(InboundUpdate.channel_user == channel_user, InboundUpdate.handled_at.is_(None),
                                        InboundUpdate.id.not_in(kept))
            .values(handled_at=now, set_aside_reason=reason[:1000]))
        return result.rowcount or 0

    async def set_aside_rows(self, limit: int = 100) -> Sequence[InboundUpdate]:
        """The set-aside updates still kept, newest first."""
        query = (select(InboundUpdate).where(InboundUpdate.set_aside_reason.is_not(None))
                 .order_by(InboundUpdate.id.desc()).limit(limit))
        return (await self.session.execute(query)).scalars().all()

    async def get(self, row_id: int) -> InboundUpdate | None:
        return await self.session.get(InboundUpdate, row_id)

    async def purge(self, handled_before: datetime) -> int:
        result = await self.session.execute(
            delete(InboundUpdate).where(InboundUpdate.handled_at.is_not(None), InboundUpdate.handled_at < handled_before))
        return result.rowcount or 0


async def pending_for(db: Database, channel_user: str, limit: int = 100) -> list[Pending]:
    """One person's unhandled updates, in the order they are handled: the columns a turn needs,
    read on a connection of its own, without a session (this runs for every update)."""
    rows = await db.read(PENDING_FOR, {"channel_user": channel_user, "limit": limit})
    return [Pending(*row) for row in rows]


def payload_of(cipher: NikCipher, row: InboundUpdate | Pending) -> dict[str, Any]:
    """The update as the platform sent it (empty once handled: the payload is erased)."""
    return json.loads(cipher.decrypt(row.payload_enc)) if row.payload_enc else {}


def _new_rows(cipher: NikCipher, updates: Sequence["Arrived"], now: datetime
              ) -> tuple[dict[tuple[str, str], int], list[dict[str, Any]]]:
    """The rows to insert for `updates` (each update once: the index of its first copy)."""
    first: dict[tuple[str, str], int] = {}
    for index, arrived in enumerate(updates):
        first.setdefault((arrived.channel, arrived.update_key), index)
    rows = [{
        "channel": u.channel, "update_key": u.update_key, "seq": u.seq, "channel_user": u.channel_user,
        "payload_enc": cipher.encrypt(u.body if u.body is not None else json.dumps(u.payload, ensure_ascii=False)),
        "received_at": now, "attempts": 0,
    } for index, u in enumerate(updates) if first[(u.channel, u.update_key)] == index]
    return first, rows


def _ids(updates: Sequence["Arrived"], first: dict[tuple[str, str], int],
         returned: Sequence[Sequence[Any]]) -> list[int | None]:
    inserted = {(channel, key): row_id for row_id, channel, key in returned}
    return [inserted.get((u.channel, u.update_key)) if first[(u.channel, u.update_key)] == index else None
            for index, u in enumerate(updates)]


async def record_many(connection: AsyncConnection, cipher: NikCipher, updates: Sequence["Arrived"],
                      now: datetime) -> list[int | None]:
    """Store updates in one statement, in the transaction of `connection` (the caller commits);
    for each, its new row's id, or None if it was already recorded (a redelivery, or the same
    update twice in `updates`)."""
    # INSERT ... ON CONFLICT DO NOTHING: one statement, no savepoint, for new and redelivered.
    first, rows = _new_rows(cipher, updates, now)
    # Parameters apart from the statement (executemany, sent as one multi-row INSERT by
    # SQLAlchemy's "insertmanyvalues"): the statement is compiled once, not per batch size.
    statement = RECORD["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    return _ids(updates, first, (await connection.execute(statement, rows)).all())


async def record_in(unit: hot.Unit, cipher: NikCipher, updates: Sequence["Arrived"],
                    now: datetime) -> list[int | None]:
    """`record_many` as one prepared multi-row INSERT of a unit of work (storage/hot.py): on
    PostgreSQL a statement on its own, atomic by itself (no BEGIN or COMMIT); on SQLite in the
    unit's transaction (the caller commits the unit)."""
    first, rows = _new_rows(cipher, updates, now)
    dialect = "postgresql" if unit.connection.dialect.name == "postgresql" else "sqlite"
    return _ids(updates, first, await RECORD_ROWS[dialect].execute(unit, rows, alone=True))


RECORD_KEYS = ("channel", "update_key", "seq", "channel_user", "payload_enc", "received_at", "attempts")
RECORD_ROWS = {name: hot.PreparedRows(INBOX, RECORD_KEYS, lambda rows, insert_=dialect.insert: insert_(INBOX).values(rows)
                                      .on_conflict_do_nothing(index_elements=["channel", "update_key"])
                                      .returning(INBOX.c.id, INBOX.c.channel, INBOX.c.update_key))
               for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
