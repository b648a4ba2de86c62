"""What /healthz reports: each channel's last successful contact with its platform, and the
outbox backlog. Channels record every contact (a poll, a webhook the platform delivered, a
message sent) in `svc.contacts`; times come from the injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class Contact:
    last_ok: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def state(self) -> str:
        """ok (last contact succeeded), failing (the last attempt failed), unknown (none yet)."""
        if self.last_error_at is not None and (self.last_ok is None or self.last_error_at > self.last_ok):
            return "failing"
        return "ok" if self.last_ok is not None else "unknown"

    def report(self, now: datetime) -> dict[str, Any]:
        return {
            "state": self.state,
            "last_contact": self.last_ok.isoformat() if self.last_ok else None,
            "seconds_since_contact": round((now - self.last_ok).total_seconds()) if self.last_ok else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
        }


class ContactLog:
    """channel ("tg", "wa") -> its latest contact with the platform."""

    def __init__(self) -> None:
        self.channels: dict[str, Contact] = {}

    def ok(self, channel: str, at: datetime) -> None:
        self.channels.setdefault(channel, Contact()).last_ok = at

    def failed(self, channel: str, at: datetime, error: str) -> None:
        contact = self.channels.setdefault(channel, Contact())
        contact.last_error, contact.last_error_at = error[:300], at

    def get(self, channel: str) -> Contact:
        return self.channels.get(channel, Contact())


async def outbox_backlog(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """Messages waiting to be sent: all queued or in flight, those already due, the oldest due."""
    from storage.outbox import OutboxMessage

    waiting = OutboxMessage.state.in_(("queued", "sending"))
    total = (await session.execute(select(func.count()).where(waiting))).scalar_one()
    due, oldest = (await session.execute(
        select(func.count(), func.min(OutboxMessage.not_before)).where(waiting, OutboxMessage.not_before <= now))).one()
    if oldest is not None and oldest.tzinfo is None:
        from datetime import timezone

        oldest = oldest.replace(tzinfo=timezone.utc)
    return {"waiting": total, "due": due,
            "oldest_due_seconds": round((now - oldest).total_seconds()) if oldest is not None else None}
