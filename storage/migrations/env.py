"""Alembic environment: runs on a connection handed over by storage.db (the usual case), or
opens its own async engine when called from the `alembic` command line."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import storage.all_models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Render project column types as plain SQLAlchemy types, so migrations import nothing of ours."""
    from storage.types import AwareDateTime

    if type_ == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def do_run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most column properties: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    from storage.db import normalize_url
    import os

    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL") or "sqlite:///var/bot.sqlite3"
    asyncio.run(run_async_migrations(normalize_url(url)))


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `python -m bot db upgrade`")
run_migrations_online()
