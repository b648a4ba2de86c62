"""Tables of the registration core. Datetimes are timezone-aware UTC (sqlmodel rejects naive ones).

The NIK is never stored in clear: `nik_enc` (AES-256-GCM) and `nik_hash` (keyed HMAC, for duplicate
detection) -- see storage/crypto.py. Conversation drafts hold it encrypted too (storage/repo.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from storage.types import AwareDateTime


def _utc_column(**kwargs: Any) -> Any:
    return Field(sa_column=Column(AwareDateTime(), **kwargs))


class Nagari(SQLModel, table=True):
    """Reference data: the villages of the regency, keyed on Kemendagri codes (13.03.CC.NNNN)."""

    code: str = Field(primary_key=True, max_length=13)
    name: str = Field(max_length=80)
    kecamatan_code: str = Field(max_length=8, index=True)
    kecamatan: str = Field(max_length=80)
    bps_code: str | None = Field(default=None, max_length=10)


class Person(SQLModel, table=True):
    """Someone who wrote to the bot, on one channel (tg:<user id>, wa:<wa id or BSUID>)."""

    id: int | None = Field(default=None, primary_key=True)
    channel_user: str = Field(max_length=80, unique=True, index=True)
    lang: str = Field(default="id", max_length=5)
    created_at: datetime = _utc_column(nullable=False)
    last_inbound_at: datetime | None = _utc_column(nullable=True)
    # Campaigns and reminders are not sent to people who said "berhenti"/"stop".
    opted_out: bool = False
    # Set when the platform says the person cannot be reached (Telegram 403: bot blocked).
    unreachable: bool = False
    failed_deliveries: int = 0


class Conversation(SQLModel, table=True):
    """The conversation state of one person, committed before each reply is returned."""

    channel_user: str = Field(primary_key=True, max_length=80)
    step: str = Field(max_length=40, index=True)
    state: str = Field(sa_column=Column(Text, nullable=False))  # JSON, NIK encrypted inside
    updated_at: datetime = _utc_column(nullable=False, index=True)


class Consent(SQLModel, table=True):
    """Explicit consent (UU 27/2022 Pasal 20-22): who, when, which text version, how."""

    id: int | None = Field(default=None, primary_key=True)
    channel_user: str = Field(max_length=80, index=True)
    version: str = Field(max_length=40)
    lang: str = Field(max_length=5)
    method: str = Field(default="chat", max_length=20)  # chat | in_person (assisted)
    given_to: str | None = Field(default=None, max_length=80)
    given_at: datetime = _utc_column(nullable=False)
    withdrawn_at: datetime | None = _utc_column(nullable=True)


# A NIK may have one registration in these statuses at a time (undecided, approved, or still
# to be withdrawn at BPJS). A rejected, withdrawn or ended registration does not block the NIK:
# the person may register again, and the official sees the earlier one.
NIK_BLOCKING = ("pending", "correction", "waiting", "approved", "enrolled", "deletion_requested")
_NIK_BLOCKING_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in NIK_BLOCKING))


class Registration(SQLModel, table=True):
    __table_args__ = (
        Index("uq_registration_nik_active", "nik_hash", unique=True,
              postgresql_where=text(_NIK_BLOCKING_SQL), sqlite_where=text(_NIK_BLOCKING_SQL)),
        Index("ix_registration_nik_hash", "nik_hash"),
        # The officials' queue (pending of one nagari, oldest first), the quota count (approved
        # of one nagari in a budget year) and duplicate suspicions (same phone), at province size.
        Index("ix_registration_nagari_status_created", "nagari_code", "status", "created_at"),
        Index("ix_registration_nagari_status_decided", "nagari_code", "status", "decided_at"),
        Index("ix_registration_phone", "phone"),
        # The regency-wide queue (admins, viewers): pending ones only, oldest first.
        Index("ix_registration_pending_created", "created_at", "id",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        # The dashboard's counts by kind of work and by recruitment link (handlers/dashboard/):
        # answered from these indexes alone, not by reading every registration (migration 0016).
        Index("ix_registration_category_status", "category", "status"),
        Index("ix_registration_link_status", "link_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=12, unique=True, index=True)
    status: str = Field(default="pending", max_length=20, index=True)
    nik_enc: str = Field(sa_column=Column(Text, nullable=False))
    nik_hash: str = Field(max_length=64)
    name: str = Field(max_length=100)
    sex: str = Field(max_length=1)
    birth_date: date
    birth_date_nik: date
    nagari_code: str = Field(foreign_key="nagari.code", max_length=13, index=True)
    jorong: str = Field(max_length=50)
    phone: str = Field(max_length=20)
    category: str = Field(max_length=20, index=True)
    category_other: str | None = Field(default=None, max_length=60)
    income: int
    income_base: int
    monthly_contribution: int
    heir_name: str | None = Field(default=None, max_length=100)
    heir_relation: str | None = Field(default=None, max_length=30)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    funding_source: str = Field(default="apb_nagari", max_length=20)
    channel_user: str = Field(max_length=80, index=True)
    lang: str = Field(default="id", max_length=5)
    consent_id: int | None = Field(default=None, foreign_key="consent.id")
    created_at: datetime = _utc_column(nullable=False, index=True)
    updated_at: datetime = _utc_column(nullable=False)
    decided_at: datetime | None = _utc_column(nullable=True)
    decided_by: str | None = Field(default=None, max_length=80)
    decision_reason: str | None = Field(default=None, max_length=500)
    kpj: str | None = Field(default=None, max_length=20)
    coverage_start: date | None = None
    # Set when the nagari ends a participant at the end of a budget year (the December
    # continuation list): from this moment they no longer count in the nagari's quota.
    ends_at: datetime | None = _utc_column(nullable=True)
    # The recruitment link the worker came through (storage/links.py: a nagari's poster, a
    # jorong's or an agent's link); None: they wrote to the bot directly, or were registered in
    # person. A plain id, no foreign key: link rows are never deleted, and a foreign key added to
    # this table would make SQLite rebuild it (every registration copied) when migrating.
    link_id: int | None = None


class AuditEvent(SQLModel, table=True):
    """Who did what to which registration, and when. Details never hold a NIK in clear."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc_column(nullable=False, index=True)
    actor: str = Field(max_length=80)
    action: str = Field(max_length=40)
    reference: str | None = Field(default=None, max_length=12, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
