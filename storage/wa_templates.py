"""What Meta said of each of our WhatsApp templates: one row per template name and language.

The definitions live in the project (bot/whatsapp/templates.py); this table holds only their
state on Meta's side, as last read by `templates sync` (at start, hourly, on the webhook's
`message_template_status_update` events) or set by `templates push`:

- `status`: Meta's word (APPROVED, PENDING, REJECTED, PAUSED, DISABLED, IN_APPEAL...); the
  sender uses a template only while it is APPROVED;
- `reason`: Meta's reason for a rejection or a pause, as Meta gave it;
- `template_id`: Meta's id of the template (needed to edit it);
- `checked_at`: when this was last read or changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.models import _utc_column

APPROVED = "APPROVED"


class WhatsAppTemplate(SQLModel, table=True):
    __tablename__ = "whatsapp_template"

    name: str = Field(primary_key=True, max_length=512)
    language: str = Field(primary_key=True, max_length=15)
    status: str = Field(max_length=30)
    category: str | None = Field(default=None, max_length=30)
    reason: str | None = Field(default=None, max_length=500)
    template_id: str | None = Field(default=None, max_length=40)
    checked_at: datetime = _utc_column(nullable=False)


async def statuses(session: AsyncSession) -> dict[tuple[str, str], str]:
    """(name, language) -> Meta's status, for every template Meta has told us of."""
    rows = (await session.execute(select(WhatsAppTemplate.name, WhatsAppTemplate.language,
                                         WhatsAppTemplate.status))).all()
    return {(name, language): status for name, language, status in rows}


async def record(session: AsyncSession, name: str, language: str, status: str, at: datetime, *,
                 category: str | None = None, reason: str | None = None,
                 template_id: str | None = None) -> str | None:
    """Store what Meta says of one template (caller commits); the status it had before, or None."""
    row = await session.get(WhatsAppTemplate, (name, language))
    if row is None:
        session.add(WhatsAppTemplate(name=name, language=language, status=status, category=category,
                                     reason=reason, template_id=template_id, checked_at=at))
        return None
    before = row.status
    row.status, row.checked_at = status, at
    row.reason = reason if status != APPROVED else None
    if category is not None:
        row.category = category
    if template_id is not None:
        row.template_id = template_id
    return before


async def row(session: AsyncSession, name: str, language: str) -> WhatsAppTemplate | None:
    """What we hold of one template (None: Meta has told us nothing of it)."""
    return await session.get(WhatsAppTemplate, (name, language))


async def rows(session: AsyncSession) -> list[WhatsAppTemplate]:
    """Every template Meta has told us of, by name and language: /readyz and `templates list`
    show them beside the project's definitions."""
    result = await session.execute(select(WhatsAppTemplate).order_by(WhatsAppTemplate.name, WhatsAppTemplate.language))
    return list(result.scalars().all())
