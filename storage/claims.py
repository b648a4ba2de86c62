"""Claim cases: after a work accident or a death, what the family reported and how far it got.

A case is not a claim: the bot never files one. It is the nagari's record of an event it helps a
family through (reported to BPJS, documents complete, submitted at the branch, paid or refused),
kept so that the operator can follow it, the family is told each change, and the regency can
count what the programme paid out (handlers/claims_cases.py).

- Free text and the notifier's contact (`place_enc`, `story_enc`, `notifier_name_enc`,
  `notifier_phone_enc`) are encrypted like the NIK: an accident's chronology is health data.
  They are blanked once the case is over and `claims.keep_personal_days` passed, and when the
  notifier deletes their data (`erase_for`); kind, dates, status and amount stay for the
  statistics.
- `registration_id` is a plain id, no foreign key: a registration erased on request leaves
  the case (with its personal fields blanked) for the counts.
- No photo of a document is ever stored: the family shows the originals at the branch.

Codes shown to people are "K" and the case's id ("K12"), short to type like the tickets' "T12".
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import Index, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from conversations.claims import DIALOG_PREFIX
from storage.models import Conversation, _utc_column
from storage.tickets import id_in_code

CODE = re.compile(r"(?<![A-Za-z0-9])[Kk]-?(\d{1,9})(?![A-Za-z0-9])")
ERASED = "erased"


class ClaimCase(SQLModel, table=True):
    __tablename__ = "claim_case"
    __table_args__ = (
        # The desk: open cases of one nagari, newest first; the scheduler: open cases by age.
        Index("ix_claim_case_nagari_status", "nagari_code", "status"),
        Index("ix_claim_case_status_opened", "status", "opened_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int
    reference: str = Field(max_length=12, index=True)
    nagari_code: str = Field(foreign_key="nagari.code", max_length=13)
    # work_accident | road_accident | death_illness | death_accident | scholarship
    kind: str = Field(max_length=20)
    # new | reported | documents | submitted | paid | refused | closed (conversations/claims.py)
    status: str = Field(default="new", max_length=12)
    event_date: date | None = None
    place_enc: str | None = None
    story_enc: str | None = None
    # Who told the bot (a family member's, the worker's own or an official's chat), and who the
    # nagari may call (Permenaker 1/2025 art. 48A(2): name and phone of the notifier).
    notifier: str = Field(max_length=80)
    notifier_name_enc: str | None = None
    notifier_phone_enc: str | None = None
    by_official: bool = False
    # Whose chat hears of each change (None: the operator tells the family in person).
    family: str | None = Field(default=None, max_length=80)
    lang: str = Field(default="id", max_length=5)
    opened_at: datetime = _utc_column(nullable=False)
    updated_at: datetime = _utc_column(nullable=False)
    paid_at: datetime | None = _utc_column(nullable=True)
    amount_paid: int | None = None
    reason: str | None = Field(default=None, max_length=300)
    # How the heirs used the payout (an optional answer, shown only as counts).
    usage: str | None = Field(default=None, max_length=20)
    closed_at: datetime | None = _utc_column(nullable=True)

    @property
    def code(self) -> str:
        return f"K{self.id}"


def case_id_of(token: str | None) -> int | None:
    """"K12", "k12", "K-12", "12" -> 12; anything else -> None."""
    return id_in_code(token, CODE)


async def erase_for(session: AsyncSession, channel_user: str) -> int:
    """A person deleted their data: their claim conversation goes, and the cases they reported
    keep only what the statistics count (kind, dates, status, amount). Returns how many."""
    await session.execute(delete(Conversation).where(Conversation.channel_user == DIALOG_PREFIX + channel_user))
    ids = list((await session.execute(select(ClaimCase.id).where(
        or_(ClaimCase.notifier == channel_user, ClaimCase.family == channel_user)))).scalars())
    if ids:
        await session.execute(update(ClaimCase).where(ClaimCase.id.in_(ids)).values(
            place_enc=None, story_enc=None, notifier_name_enc=None, notifier_phone_enc=None, notifier=ERASED,
            family=None).execution_options(synchronize_session=False))
    return len(ids)
