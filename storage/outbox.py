"""The outbox: one row per message the bot sends on its own initiative, and the campaigns.

Every message goes through here. A reply (and any notice a turn produces) is inserted by the
turn's own transaction already claimed ("sending") by the process that handles the turn, which
sends it right after the commit (handlers/turn.py); campaign broadcasts, reminders and digests
are queued and claimed by a worker (bot/worker.py). Either way a crash repeats at most the
messages in flight and never skips one:

    queued --claim--> sending --platform--> sent | failed | skipped
       ^                 |
       +-- transient error (backoff: not_before), or the worker died (lease expired)

The `dedupe_key` (unique) makes enqueueing idempotent: a reminder rule enqueues
"rule:subject:occurrence" on every scheduler tick, and only the first insert counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from storage.models import _utc_column

OUTBOX_STATES = ("queued", "sending", "sent", "failed", "skipped")
KINDS = ("reply", "campaign", "reminder", "transactional")
CAMPAIGN_STATES = ("draft", "scheduled", "running", "paused", "cancelled", "done")


class Campaign(SQLModel, table=True):
    """A broadcast by an admin. While `state` is "draft", `draft` holds the admin's compose
    dialogue (conversations/campaign_compose.ComposeState); it is cleared when scheduled."""

    id: int | None = Field(default=None, primary_key=True)
    created_by: str = Field(max_length=80, index=True)
    created_at: datetime = _utc_column(nullable=False)
    updated_at: datetime = _utc_column(nullable=False)
    state: str = Field(default="draft", max_length=10, index=True)
    draft: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    text_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    text_en: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    image: str | None = Field(default=None, max_length=500)
    # {"kecamatan": [...], "nagari": [...], "category": [...], "status": [...], "channel": [...],
    #  "lang": [...], "unfinished": true}: every given dimension must match (AND), values OR.
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scheduled_at: datetime | None = _utc_column(nullable=True)
    started_at: datetime | None = _utc_column(nullable=True)
    finished_at: datetime | None = _utc_column(nullable=True)
    # Messages enqueued at launch; sent/failed/skipped are counted from the outbox rows (no hot
    # counter row for several workers to fight over), and frozen into `report` when done.
    total: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The platform id of the first progress message the admin received: later progress edits
    # it in place where the platform can (Telegram), so the admin sees one live message.
    progress_message_id: str | None = Field(default=None, max_length=100)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # The claim query's path: queued rows in order of urgency, read in index order until
        # enough are due (not_before checked from the index), so no sort over a 50,000-row queue.
        Index("ix_outbox_claim", "state", "priority", "id", "not_before"),
        Index("ix_outbox_campaign_state", "campaign_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=13)  # reply | campaign | reminder | transactional
    campaign_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("campaign.id", ondelete="CASCADE"), nullable=True))
    channel_user: str = Field(max_length=80, index=True)
    lang: str = Field(default="id", max_length=5)
    # Catalog key of the message (tests and reports assert on it) and its rendered text; a
    # campaign's rows leave text empty and take it from the campaign (50,000 copies saved).
    key: str = Field(max_length=60)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    image: str | None = Field(default=None, max_length=500)
    # [{"id": ..., "title": ...}]: the message's buttons (a campaign's pause/resume/cancel).
    buttons: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # A turn's message (kind "reply"): the whole Reply as JSON, encrypted (it may show a name, a
    # phone or, to an operator who asked, a NIK), erased once the message is sent or given up.
    body_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The platform message id of an earlier message to the same person that this one updates
    # (handlers.delivery.Sender `replace`).
    replaces: str | None = Field(default=None, max_length=100)
    # WhatsApp: the kind of message whose approved template the sender uses outside the
    # 24-hour window ("campaign", "reminder"; config.yaml whatsapp.templates).
    template: str | None = Field(default=None, max_length=60)
    priority: int = 2  # handlers.delivery.Priority
    state: str = Field(default="queued", max_length=8)
    reason: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    not_before: datetime = _utc_column(nullable=False)
    dedupe_key: str | None = Field(default=None, max_length=160, unique=True)
    created_at: datetime = _utc_column(nullable=False)
    claimed_at: datetime | None = _utc_column(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=40)
    sent_at: datetime | None = _utc_column(nullable=True, index=True)
    message_id: str | None = Field(default=None, max_length=100)
