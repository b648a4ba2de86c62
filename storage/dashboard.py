"""The dashboard's way in: one-time login links and the browser sessions they open, and a
read-only connection for its figures that keeps long SQLite reads off the event loop.

- `DashboardLink`: a link an official asked for (`/dasbor`, `python -m bot dashboard link`).
  It works once and for a few minutes. Only the SHA-256 of its token is stored: someone who
  reads the database (a backup, a replica) learns no link that still works.
- `DashboardSession`: a browser session opened with such a link, kept in an HttpOnly cookie,
  again stored as a hash; it ends when it expires or when the official logs out.
- `Reader`: where the dashboard's counting runs. On PostgreSQL the ordinary sessions (asyncpg
  waits without blocking). On SQLite the program's own connections run their statements on the
  event loop's thread (storage/inline_sqlite.py: right for the turns' tiny statements), where a
  GROUP BY over a million registrations would stop every webhook for its duration; the reader
  has connections of its own through aiosqlite's worker thread instead (sqlite3 releases the
  GIL while a statement runs), read-only.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel

from storage.db import BUSY_SECONDS, Database
from storage.models import _utc_column

# Rows past their end are deleted this long after it (whenever a link is made): kept a day for
# whoever asks why a link was refused, never more.
KEEP_ENDED = timedelta(days=1)
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """What is stored of a link's or a session's token. A plain hash is enough: the tokens are
    random (256 bits), so there is nothing to guess from it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class DashboardLink(SQLModel, table=True):
    __tablename__ = "dashboard_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    # The official it logs in (an Official's channel_user); their roles are read at each request.
    channel_user: str = Field(max_length=80)
    created_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False)
    used_at: datetime | None = _utc_column(nullable=True)


class DashboardSession(SQLModel, table=True):
    __tablename__ = "dashboard_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    channel_user: str = Field(max_length=80)
    lang: str = Field(default="id", max_length=5)
    created_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False)
    ended_at: datetime | None = _utc_column(nullable=True)


async def new_link(session: AsyncSession, channel_user: str, now: datetime, valid: timedelta) -> str:
    """A link's token (shown once, never stored), valid for `valid` from `now`. The caller commits."""
    await session.execute(delete(DashboardLink).where(DashboardLink.expires_at < now - KEEP_ENDED))
    token = new_token()
    session.add(DashboardLink(token_hash=token_hash(token), channel_user=channel_user, created_at=now,
                              expires_at=now + valid))
    await session.flush()
    return token


async def usable_link(session: AsyncSession, token: str, now: datetime) -> DashboardLink | None:
    """The link if it is still unused and unexpired (without using it)."""
    row = (await session.execute(select(DashboardLink).where(
        DashboardLink.token_hash == token_hash(token)))).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


async def use_link(session: AsyncSession, token: str, now: datetime) -> str | None:
    """Use the link once: the official it logs in, or None (unknown, used or expired). One
    conditional UPDATE, so two browsers opening it at the same moment cannot both get in."""
    digest = token_hash(token)
    used = await session.execute(update(DashboardLink).where(
        DashboardLink.token_hash == digest, DashboardLink.used_at.is_(None), DashboardLink.expires_at > now)
        .values(used_at=now))
    if used.rowcount != 1:
        return None
    return (await session.execute(select(DashboardLink.channel_user).where(
        DashboardLink.token_hash == digest))).scalar_one()


async def open_session(session: AsyncSession, channel_user: str, lang: str, now: datetime,
                       lasts: timedelta) -> str:
    """A new browser session's token (for the cookie). The caller commits."""
    await session.execute(delete(DashboardSession).where(
        or_(DashboardSession.expires_at < now - KEEP_ENDED, DashboardSession.ended_at < now - KEEP_ENDED)))
    token = new_token()
    session.add(DashboardSession(token_hash=token_hash(token), channel_user=channel_user, lang=lang,
                                 created_at=now, expires_at=now + lasts))
    await session.flush()
    return token


async def live_session(session: AsyncSession, token: str, now: datetime) -> DashboardSession | None:
    row = (await session.execute(select(DashboardSession).where(
        DashboardSession.token_hash == token_hash(token)))).scalar_one_or_none()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return row


async def end_session(session: AsyncSession, token: str, now: datetime) -> None:
    await session.execute(update(DashboardSession).where(
        DashboardSession.token_hash == token_hash(token), DashboardSession.ended_at.is_(None)).values(ended_at=now))


async def set_session_lang(session: AsyncSession, token: str, lang: str) -> None:
    await session.execute(update(DashboardSession).where(
        DashboardSession.token_hash == token_hash(token)).values(lang=lang))


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    cursor.close()


class Reader:
    """Sessions for the dashboard's reads (see the module's docstring)."""

    def __init__(self, db: Database, connections: int = 2) -> None:
        self.db = db
        self.engine: AsyncEngine | None = None
        if db.is_sqlite and db.path is not None:
            # aiosqlite's own connections: each runs its statements in a thread of its own.
            self.engine = create_async_engine(db.url, hide_parameters=True, pool_size=connections, max_overflow=0)
            event.listen(self.engine.sync_engine, "connect", _read_only)
            self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self.engine is None:
            async with self.db.session() as session:
                yield session
            return
        async with self._sessions() as session:
            yield session

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
