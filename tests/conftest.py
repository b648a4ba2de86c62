"""Shared fixtures: services on SQLite (always) and PostgreSQL (when reachable), a fixed clock,
and a transcript helper for conversations.

PostgreSQL and Redis tests skip when the servers are unreachable, except in CI
(REQUIRE_SERVICES=1), where they must run.
"""

from __future__ import annotations

import asyncio
import io
import logging
import concurrent.futures
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from bot.app import build_services
from bot.config import Environment
from conversations.events import ButtonPress, ContactShared, Inbound, Media, Reply, Text
from bot.logging_setup import setup_logging
from handlers.clock import LOCAL_TZ, FixedClock
from handlers.delivery import Outgoing
from handlers.router import dispatch
from handlers.services import Services

START = datetime(2026, 11, 28, 10, 0, tzinfo=LOCAL_TZ)
POSTGRES_URL = os.environ.get("DATABASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def need(url: str, port: int, what: str) -> None:
    if not reachable(url, port):
        if REQUIRE_SERVICES:
            pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but unreachable at {url}")
        pytest.skip(f"{what} not reachable at {url}")


def _run_aside(coro: Any) -> Any:
    """Run a coroutine to completion in its own thread and loop (usable from sync fixtures that
    other, async, fixtures request)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin(sql: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    need(POSTGRES_URL, 5432, "PostgreSQL")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _run_aside(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    finally:
        _run_aside(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    need(REDIS_URL, 6379, "Redis")
    return REDIS_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """The command line's main() sets up the program's logging on the root logger, writing to the
    stderr of its moment (under capsys, a stream closed after the test): every test gets the root
    logger back as it was, so no later test logs into a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """The application's own log set-up (with its NIK filter), writing to a string."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def test_env(tmp_path: Path) -> Environment:
    """A key of this test: every service a test builds (like every process of one deployment)
    shares it -- a database refuses to start with another key than its own."""
    return Environment(secret_key=_test_keys.setdefault(str(tmp_path), secrets.token_urlsafe(48)),
                       secret_key_file=tmp_path / "unused.key")


_test_keys: dict[str, str] = {}


async def make_services(url: str, clock: FixedClock, tmp_path: Path, config: str | None = None) -> Services:
    return await build_services(config, url, clock=clock, env=test_env(tmp_path))


@pytest.fixture
async def svc(sqlite_url: str, clock: FixedClock, tmp_path: Path) -> AsyncIterator[Services]:
    services = await make_services(sqlite_url, clock, tmp_path)
    yield services
    await services.db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def any_svc(request: pytest.FixtureRequest, clock: FixedClock, tmp_path: Path) -> AsyncIterator[Services]:
    """Services on SQLite and on PostgreSQL: storage behaviour must be the same on both."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'any.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    services = await make_services(url, clock, tmp_path)
    yield services
    await services.db.dispose()


@dataclass
class Chat:
    """A person talking to the bot: a transcript helper for tests.

    `await chat("halo")` sends text; `await chat.tap("consent:yes")` taps a button of the last
    message; `chat.keys` are the catalog keys of the last replies (assert on meaning, not words).
    """

    svc: Services
    user: str = "tg:1001"
    replies: list[Reply] = field(default_factory=list)
    others: list[Outgoing] = field(default_factory=list)

    async def send(self, event: Inbound) -> list[Reply]:
        out = await dispatch(self.svc, self.user, event)
        self.replies = [o.reply for o in out if o.to == self.user]
        self.others = [o for o in out if o.to != self.user]
        return self.replies

    async def __call__(self, text: str) -> list[Reply]:
        return await self.send(Text(text))

    async def tap(self, button_id: str) -> list[Reply]:
        ids = [b.id for r in self.replies for b in r.buttons]
        assert button_id in ids or button_id.startswith("cmd:"), f"{button_id} not among {ids}"
        return await self.send(ButtonPress(button_id))

    async def contact(self, phone: str, own: bool = True) -> list[Reply]:
        return await self.send(ContactShared(phone, own))

    async def media(self, kind: str = "photo") -> list[Reply]:
        return await self.send(Media(kind))

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.replies]

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    def buttons(self) -> list[str]:
        return [b.id for r in self.replies for b in r.buttons]


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """A fake Telegram Bot API server on 127.0.0.1 (tests/fake_telegram.py)."""
    from tests.fake_telegram import FakeTelegram

    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def chat(svc: Services) -> Chat:
    return Chat(svc)


# Answers that walk a whole registration; tests override what they exercise.
# NIK: 1303 (Sijunjung) 05 (kec) 52 03 85 (female, 12-03-1985) 0001.
GOOD_NIK = "1303055203850001"
REGISTRATION: list[tuple[str, Any]] = [
    ("tap", "lang:id"),
    ("tap", "consent:yes"),
    ("tap", "yn:yes"),
    ("tap", "member:no"),
    ("tap", "work:own"),
    ("tap", "cat:petani"),
    ("say", "Siti Rahmah"),
    ("say", GOOD_NIK),
    ("tap", "yn:yes"),
    ("say", "Muaro"),
    ("say", "Koto Tuo"),
    ("say", "0812-3456-7890"),
    ("tap", "inc:1000000"),
    ("say", "Ahmad Yani"),
    ("tap", "rel:suami_istri"),
]


async def register(chat: Chat, nik: str = GOOD_NIK, lang: str = "id", submit: bool = True) -> str | None:
    """Walk `chat` through a complete registration; returns the reference (or None)."""
    await chat("halo")
    for kind, value in REGISTRATION:
        if value == "lang:id":
            value = f"lang:{lang}"
        if value == GOOD_NIK:
            value = nik
        await (chat.tap(value) if kind == "tap" else chat(value))
    assert chat.keys[-1] == "summary.prompt", chat.keys
    if not submit:
        return None
    await chat.tap("sum:send")
    assert "submit.done" in chat.keys, chat.keys
    import re

    match = re.search(r"SJ-[A-Z0-9]{6}", chat.text)
    return match.group(0) if match else None


__all__ = ["Chat", "register", "GOOD_NIK", "START", "asyncio"]


class RecordingSender:
    """A channel's sender that keeps what it was given (tests of the turn path without a
    platform): every message sent, in order, as Outgoing."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[Any] = []

    async def send(self, to: str, reply: Reply, priority: Any = None, template: str | None = None,
                   replace: str | None = None, lang: str | None = None) -> Any:
        from handlers.delivery import DeliveryResult, Outgoing

        self.sent.append(Outgoing(to, reply))
        return DeliveryResult(ok=True, message_id=f"rec-{len(self.sent)}")
