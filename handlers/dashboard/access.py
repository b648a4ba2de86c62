"""Use-case: logging officials in to the dashboard with a one-time link, and what they may see.

An official asks for a link in the chat (`/dasbor`) or an administrator makes one on the server
(`python -m bot dashboard link --as tg:...`). The link works once, for LINK_MINUTES: a link in
a chat can be forwarded, read over a shoulder or found later in the chat's history, and then it
is spent. Opening it starts a browser session of SESSION_HOURS (a working day). The official's
roles are read again at every request, so a revoked official is out at once.

What a page may show follows handlers/roles.py: admins and viewers see every nagari, an
operator their own nagari (`scope`), and everyone else nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.roles import Grant, grants_of, scope
from handlers.services import Services
from storage import dashboard as store
from storage.models import Person

# Where the dashboard is served (bot/dashboard/); the login links point below it.
PREFIX = "/dasbor"
LINK_MINUTES = 10
SESSION_HOURS = 8


def login_path(token: str) -> str:
    return f"{PREFIX}/masuk/{token}"


async def login_link(svc: Services, session: AsyncSession, who: str, now: datetime,
                     base_url: str | None = None) -> str | None:
    """A one-time login link for the official `who` (None: not an official, or no address to
    put in a link). The caller commits."""
    base = (base_url if base_url is not None else svc.dashboard_url).rstrip("/")
    if not base or not await grants_of(session, who):
        return None
    token = await store.new_link(session, who, now, timedelta(minutes=LINK_MINUTES))
    return base + login_path(token)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the dashboard: their grants and the nagari they may see."""

    channel_user: str
    grants: tuple[Grant, ...]
    lang: str

    @property
    def codes(self) -> frozenset[str] | None:
        """None: every nagari (admin, viewer); else the operator's nagari."""
        codes = scope(list(self.grants), "view")
        return None if codes is None else frozenset(codes)

    @property
    def regency(self) -> bool:
        """Admins and viewers: the regency's pages (funnel, campaigns) besides the nagari's."""
        return self.codes is None

    def may_see(self, nagari_code: str) -> bool:
        codes = self.codes
        return codes is None or nagari_code in codes

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted({grant.role for grant in self.grants}))


async def log_in(svc: Services, session: AsyncSession, token: str, now: datetime) -> str | None:
    """Use a login link: a new session's token, or None when the link is unknown, used or
    expired, or its official holds no role any more. The caller commits."""
    who = await store.use_link(session, token, now)
    if who is None or not await grants_of(session, who):
        return None
    lang = await _lang_of(svc, session, who)
    return await store.open_session(session, who, lang, now, timedelta(hours=SESSION_HOURS))


async def viewer_of(session: AsyncSession, token: str, now: datetime) -> Viewer | None:
    """The official of a live session who still holds a role; None otherwise."""
    row = await store.live_session(session, token, now)
    if row is None:
        return None
    grants = await grants_of(session, row.channel_user)
    if not grants:
        return None
    return Viewer(row.channel_user, tuple(grants), row.lang)


async def _lang_of(svc: Services, session: AsyncSession, who: str) -> str:
    lang = (await session.execute(select(Person.lang).where(Person.channel_user == who))).scalar_one_or_none()
    return lang if lang in svc.rules.languages else svc.rules.default_language
