"""Tickets: a worker asked for a person, and the conversation with the official who answers.

- `Ticket`: one request for a person. It records who asked, the nagari it is routed to (None:
  the regency desk, the admins), the step of the form the worker had reached, the question, who
  holds it (one official at a time) and when it was opened, taken, first answered, last active
  and closed. A person has at most one ticket that is not closed (a partial unique index).
- `TicketMessage`: every message of the ticket, the worker's and the official's, text encrypted
  like the NIK (it may hold personal data). Deleted with the person's data (`erase_for`).

Codes shown to people are "T" and the ticket's id ("T12"): short to type on a phone.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.models import _utc_column

OPEN_STATES = ("open", "taken")
NOT_CLOSED = "status IN ('open', 'taken')"
CODE = re.compile(r"(?<![A-Za-z0-9])[Tt]-?(\d{1,9})(?![A-Za-z0-9])")


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        # One ticket that is not closed per person: asking twice at the same moment opens one.
        Index("uq_ticket_open_per_person", "channel_user", unique=True,
              sqlite_where=text(NOT_CLOSED), postgresql_where=text(NOT_CLOSED)),
        Index("ix_ticket_status_opened", "status", "opened_at"),
        Index("ix_ticket_nagari_status", "nagari_code", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel_user: str = Field(max_length=80)
    # The nagari whose operators answer; None: the regency desk (the admins).
    nagari_code: str | None = Field(default=None, foreign_key="nagari.code", max_length=13)
    # "nagari": sent to the nagari's operators; "regency": to the admins (no nagari, no operator,
    # or nobody took it in time).
    routed_to: str = Field(default="nagari", max_length=10)
    # The step of the registration conversation when the worker asked (the form resumes there).
    step: str | None = Field(default=None, max_length=40)
    question_enc: str | None = None
    lang: str = Field(default="id", max_length=5)
    status: str = Field(default="open", max_length=10)  # open | taken | closed
    holder: str | None = Field(default=None, max_length=80)
    opened_at: datetime = _utc_column(nullable=False)
    taken_at: datetime | None = _utc_column(nullable=True)
    answered_at: datetime | None = _utc_column(nullable=True)
    last_activity_at: datetime = _utc_column(nullable=False)
    reminded_at: datetime | None = _utc_column(nullable=True)
    # The worker's text reaches the officials at most once a minute (limits.ticket_push_seconds):
    # when it last did, and how many messages wait for the next push (the scheduler's, or the
    # worker's next message once the minute is over).
    pushed_at: datetime | None = _utc_column(nullable=True)
    unpushed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    escalated_at: datetime | None = _utc_column(nullable=True)
    closed_at: datetime | None = _utc_column(nullable=True)
    # The official who closed it, "worker" (went back to the form) or "silence" (closed by itself).
    closed_by: str | None = Field(default=None, max_length=80)

    @property
    def code(self) -> str:
        return f"T{self.id}"


class TicketMessage(SQLModel, table=True):
    __tablename__ = "ticket_message"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(sa_column=Column(Integer, ForeignKey("ticket.id", ondelete="CASCADE"),
                                            nullable=False, index=True))
    author: str = Field(max_length=80)
    # "in": from the worker; "out": an official's answer.
    direction: str = Field(max_length=3)
    kind: str = Field(default="text", max_length=12)  # text | photo | voice | ... (conversations.events)
    body_enc: str | None = None
    at: datetime = _utc_column(nullable=False)


def ticket_id_of(token: str | None) -> int | None:
    """"T12", "t12", "T-12", "12" -> 12; anything else -> None."""
    return id_in_code(token, CODE)


def id_in_code(token: str | None, code: re.Pattern[str]) -> int | None:
    """The number of a code shown to people ("T12", "K-12"; `code` matches the letter and
    captures the number), or the bare number; anything else -> None."""
    if not token:
        return None
    value = token.strip()
    if value.isdigit():
        return int(value) if len(value) <= 9 else None
    found = code.fullmatch(value)
    return int(found.group(1)) if found else None


def ticket_in(text_: str | None) -> int | None:
    """The first ticket code in a text (the bot's own message an official replied to)."""
    found = CODE.search(text_ or "")
    return int(found.group(1)) if found else None


async def open_ticket_of(session: AsyncSession, channel_user: str) -> Ticket | None:
    return (await session.execute(select(Ticket).where(
        Ticket.channel_user == channel_user, Ticket.status.in_(OPEN_STATES)))).scalar_one_or_none()


async def erase_for(session: AsyncSession, channel_user: str) -> int:
    """Delete a person's tickets and their messages (their data is deleted). Returns how many
    tickets there were."""
    ids = list((await session.execute(select(Ticket.id).where(Ticket.channel_user == channel_user))).scalars())
    if ids:
        await session.execute(delete(TicketMessage).where(TicketMessage.ticket_id.in_(ids)))
        await session.execute(delete(Ticket).where(Ticket.id.in_(ids)))
    return len(ids)
