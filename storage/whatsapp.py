"""Outgoing WhatsApp messages: what was sent to whom, and what Meta later said about it.

Every message the WhatsApp sender hands to the Cloud API gets a row; status webhooks (sent,
delivered, read, failed) update it by message id (wamid). Messages held back because the person's
24-hour window is closed (window policy "wait") are rows too, with the reply encrypted (it may
carry personal data), sent when the person writes again or expired.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import NikCipher
from storage.models import Person, _utc_column

# Status webhooks can arrive out of order (Meta does not guarantee order): a status only moves a
# row forward. "failed" is final whenever it comes.
STATUS_RANK = {"waiting": 0, "accepted": 1, "sent": 2, "delivered": 3, "read": 4}
FINAL = ("failed", "expired", "released")


class OutboundMessage(SQLModel, table=True):
    __tablename__ = "whatsapp_outbound"
    __table_args__ = (Index("ix_whatsapp_outbound_user_status", "channel_user", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    # The Cloud API's id (wamid); None while waiting, or when the API refused the message.
    message_id: str | None = Field(default=None, max_length=128, unique=True)
    channel_user: str = Field(max_length=80)
    # text | buttons | list | template | document | image | held, or the type of a worker's media
    # sent again (video, audio, voice, sticker, location)
    kind: str = Field(max_length=16)
    template: str | None = Field(default=None, max_length=64)
    priority: int = 0
    # accepted (by the API) -> sent -> delivered -> read, or failed; a held message: waiting ->
    # released (sent as new rows) or expired.
    status: str = Field(max_length=12)
    error_code: int | None = None
    error_title: str | None = Field(default=None, max_length=200)
    body_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _utc_column(nullable=False)
    updated_at: datetime = _utc_column(nullable=False)
    delivered_at: datetime | None = _utc_column(nullable=True)
    read_at: datetime | None = _utc_column(nullable=True)


class Outbox:
    """Reads and writes of whatsapp_outbound inside the caller's session (the caller commits)."""

    def __init__(self, session: AsyncSession, cipher: NikCipher) -> None:
        self.session = session
        self.cipher = cipher

    async def person(self, channel_user: str) -> Person | None:
        return (await self.session.execute(
            select(Person).where(Person.channel_user == channel_user))).scalar_one_or_none()

    def record(self, channel_user: str, kind: str, status: str, now: datetime, *, message_id: str | None = None,
               template: str | None = None, priority: int = 0, error_code: int | None = None,
               error_title: str | None = None, body: dict[str, Any] | None = None) -> OutboundMessage:
        row = OutboundMessage(
            message_id=message_id, channel_user=channel_user, kind=kind, template=template, priority=priority,
            status=status, error_code=error_code, error_title=(error_title or "")[:200] or None,
            body_enc=self.cipher.encrypt(json.dumps(body, ensure_ascii=False)) if body is not None else None,
            created_at=now, updated_at=now,
        )
        self.session.add(row)
        return row

    def body(self, row: OutboundMessage) -> dict[str, Any]:
        return json.loads(self.cipher.decrypt(row.body_enc)) if row.body_enc else {}

    async def apply_status(self, message_id: str, status: str, at: datetime, error_code: int | None = None,
                           error_title: str | None = None) -> bool:
        """Record a status webhook; False when the message is unknown or the status is older."""
        row = (await self.session.execute(
            select(OutboundMessage).where(OutboundMessage.message_id == message_id))).scalar_one_or_none()
        if row is None or row.status in FINAL:
            return False
        if status not in FINAL and STATUS_RANK.get(status, -1) <= STATUS_RANK.get(row.status, -1):
            return False
        row.status, row.updated_at = status, at
        if status == "delivered":
            row.delivered_at = at
        elif status == "read":
            row.read_at = at
            row.delivered_at = row.delivered_at or at
        elif status == "failed":
            row.error_code, row.error_title = error_code, (error_title or "")[:200] or None
        return True

    async def people_waiting(self) -> Sequence[str]:
        query = select(OutboundMessage.channel_user).where(OutboundMessage.status == "waiting").distinct()
        return (await self.session.execute(query)).scalars().all()

    async def knows(self, message_id: str) -> bool:
        """Whether a message id is one of the messages this bot sent."""
        query = select(OutboundMessage.id).where(OutboundMessage.message_id == message_id).limit(1)
        return (await self.session.execute(query)).first() is not None

    async def waiting_for(self, channel_user: str) -> Sequence[OutboundMessage]:
        query = (select(OutboundMessage)
                 .where(OutboundMessage.channel_user == channel_user, OutboundMessage.status == "waiting")
                 .order_by(OutboundMessage.id))
        return (await self.session.execute(query)).scalars().all()

    async def close_waiting(self, row_id: int, status: str, now: datetime, message_id: str | None = None) -> None:
        """A waiting message was sent (or expired): its stored body is no longer needed."""
        await self.session.execute(update(OutboundMessage).where(OutboundMessage.id == row_id).values(
            status=status, message_id=message_id, body_enc=None, updated_at=now))
