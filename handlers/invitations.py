"""Invitation codes made on the server (`python -m bot officials invite`).

The chat's `/undang` (handlers/officials/admin.py) needs an admin to exist already; the first one
is made on the server without anybody's id: `create_invitation` writes the same Invitation row
`/undang` writes (storage/officials.py: one use, expiring after
`officials.invitation_expiry_hours`, made by the same code generator) and returns the code with
the links that carry it to the chat (conversations/invitations.py). Whoever opens the link first
becomes the official: the code is a credential, shown to the deployer only, never logged, and
named in the audit trail by the invitation's row id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.invitations import invitation_links
from handlers.officials.admin import unused_code
from handlers.services import Services
from storage.officials import ROLES, Invitation
from storage.repo import Repository


@dataclass(frozen=True)
class MadeInvitation:
    code: str
    role: str
    nagari_code: str | None
    expires_at: datetime
    telegram: str | None  # the deep link, when TELEGRAM_BOT_USERNAME is known
    whatsapp: str | None  # the click-to-chat link, when WHATSAPP_DISPLAY_NUMBER is known


async def create_invitation(svc: Services, session: AsyncSession, role: str, nagari_code: str | None,
                            actor: str, now: datetime) -> MadeInvitation:
    """A one-time code for `role` (an operator's with its nagari), as /undang makes it, audited
    without the code. The caller commits."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "operator" and nagari_code is None:
        raise ValueError("an operator's invitation needs a nagari")
    code = await unused_code(session)
    expires = now + timedelta(hours=svc.config.officials.invitation_expiry_hours)
    invitation = Invitation(code=code, role=role, nagari_code=nagari_code if role == "operator" else None,
                            created_by=actor, created_at=now, expires_at=expires)
    session.add(invitation)
    await session.flush()
    await Repository(session, svc.cipher).audit(actor, "invitation_created", now, None, invitation=invitation.id,
                                                role=role, nagari=invitation.nagari_code)
    telegram, whatsapp = invitation_links(svc.link_targets, code)
    return MadeInvitation(code, role, invitation.nagari_code, expires, telegram, whatsapp)
