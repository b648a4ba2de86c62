"""Officials and their roles: who may review, decide, export, invite and broadcast.

Roles: `admin` (the regency: every nagari, manages officials and campaigns),
`operator` (one nagari: reviews and decides its registrations), `viewer` (e.g. the BPJS TK
branch: reads and exports everything, decides nothing). One person may hold roles on several
channels (one row per channel identity).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _utc_column

ROLES = ("admin", "operator", "viewer")


class Official(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel_user", "role", "nagari_code", name="uq_official_grant"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_user: str = Field(max_length=80, index=True)
    role: str = Field(max_length=10)
    # The nagari of an operator (Kemendagri code); None for admin and viewer (all nagari).
    nagari_code: str | None = Field(default=None, foreign_key="nagari.code", max_length=13)
    added_by: str = Field(max_length=80)
    added_at: datetime = _utc_column(nullable=False)
    revoked_at: datetime | None = _utc_column(nullable=True)


class Invitation(SQLModel, table=True):
    """A one-time code an admin gives to a new official (expires, configurable; default 72 h)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    role: str = Field(max_length=10)
    nagari_code: str | None = Field(default=None, foreign_key="nagari.code", max_length=13)
    created_by: str = Field(max_length=80)
    created_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False)
    used_by: str | None = Field(default=None, max_length=80)
    used_at: datetime | None = _utc_column(nullable=True)
    revoked_at: datetime | None = _utc_column(nullable=True)
