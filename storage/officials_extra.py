"""Tables of the officials' work beyond roles: quota rows, digest marks and correction requests.

- `NagariQuota`: one row per nagari and budget year. It holds the admin's override of the quota
  and is the row every decision of that nagari-year locks first (handlers/quota.py), so that two
  officials deciding at the same moment are serialised on SQLite and on PostgreSQL.
- `DigestMark`: when each operator was last told about new registrations (at most one digest
  per interval).
- `CorrectionRequest`: which form groups an official asked a worker to correct, and which the
  worker has done; the registration returns to the queue when none is left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.models import _utc_column


class NagariQuota(SQLModel, table=True):
    __tablename__ = "nagari_quota"

    nagari_code: str = Field(primary_key=True, foreign_key="nagari.code", max_length=13)
    year: int = Field(primary_key=True)
    # Set by an admin in chat; None: the quota comes from config.yaml (officials.quota).
    limit_override: int | None = None
    set_by: str | None = Field(default=None, max_length=80)
    set_at: datetime | None = _utc_column(nullable=True)
    # Bumped by every decision: the UPDATE is what takes the row lock (see handlers/quota.py).
    version: int = 0


class DigestMark(SQLModel, table=True):
    __tablename__ = "digest_mark"

    channel_user: str = Field(primary_key=True, max_length=80)
    sent_at: datetime | None = _utc_column(nullable=True)
    # Registrations changed after this moment are not yet in any digest sent to this operator.
    covered_until: datetime = _utc_column(nullable=False)


class CorrectionRequest(SQLModel, table=True):
    __tablename__ = "correction_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=12, index=True)
    # Form groups (conversations/form.py) to walk the worker through, in order, and those done.
    groups: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    done: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str = Field(max_length=500)
    requested_by: str = Field(max_length=80)
    requested_at: datetime = _utc_column(nullable=False)
    closed_at: datetime | None = _utc_column(nullable=True)


async def open_correction(session: AsyncSession, reference: str) -> CorrectionRequest | None:
    query = (select(CorrectionRequest)
             .where(CorrectionRequest.reference == reference, CorrectionRequest.closed_at.is_(None))
             .order_by(CorrectionRequest.id.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()


async def next_correction_group(session: AsyncSession, reference: str, done_group: int,
                                now: datetime) -> int | None:
    """Record that the worker corrected `done_group`; return the next requested group, or None
    when the request is complete (then it is closed)."""
    request = await open_correction(session, reference)
    if request is None:
        return None
    done: list[Any] = sorted(set(request.done) | {done_group})
    request.done = done
    remaining = [g for g in request.groups if g not in done]
    if not remaining:
        request.closed_at = now
        return None
    return remaining[0]
