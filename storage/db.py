"""Database engine and sessions: SQLite (embedded default, WAL) or PostgreSQL, same code.

URLs are accepted in plain and async forms (sqlite:///path, sqlite+aiosqlite:///path,
postgresql://..., postgres://..., postgresql+asyncpg://...) and normalised to the async drivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalize_url(url: str) -> str:
    """The async-driver form of a database URL; raises ValueError for other databases."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes a second writer wait
    # instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    def __init__(self, url: str, **engine_args: Any) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            engine_args.setdefault("pool_size", 10)
            engine_args.setdefault("max_overflow", 10)
        # hide_parameters: statement parameters (names, phones) never reach error messages or logs.
        self.engine: AsyncEngine = create_async_engine(self.url, hide_parameters=True, **engine_args)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def upgrade(self) -> None:
        """Apply every Alembic migration (all heads) on this database."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_run_alembic_upgrade)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def _run_alembic_upgrade(connection: Any) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def upgrade_sync(url: str) -> None:
    """`python -m bot db upgrade`: migrate outside any running event loop."""

    async def run() -> None:
        database = Database(url)
        try:
            await database.upgrade()
        finally:
            await database.dispose()

    asyncio.run(run())
