"""SIGTERM (a deploy, `docker stop`) is not a crash: the bot stops taking new work, finishes
what is in flight within the grace (config.yaml shutdown.grace_seconds), and exits 0.

A real `python -m bot run` serving the Telegram webhook against the fake Bot API server."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from conversations.i18n import Catalog
from tests.bot_process import BotProcess, post, write_config
from tests.fake_telegram import FakeTelegram, TgPerson, keys_of

pytestmark = pytest.mark.slow


def unfinished(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM inbound_update WHERE handled_at IS NULL").fetchone()[0]


async def until(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> FakeTelegram:  # type: ignore[misc]
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def deployment(fake: FakeTelegram, tmp_path: Path, grace: float) -> tuple[BotProcess, Path]:
    database = tmp_path / "bot.sqlite3"
    config = write_config(tmp_path / "config.yaml", shutdown={"grace_seconds": grace})
    return BotProcess(fake, f"sqlite:///{database}", secrets.token_urlsafe(48), config, tmp_path / "bot.log"), database


def answers(fake: FakeTelegram, person: TgPerson) -> list[str]:
    return [call.text for call in fake.answered if call.chat_id == person.user_id]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_answers_what_is_in_flight_and_exits_0(
        fake: FakeTelegram, tmp_path: Path, signum: int) -> None:
    bot, database = deployment(fake, tmp_path, grace=10)
    catalog = Catalog.load()
    first, second = (TgPerson(fake, catalog, settle=None, user_id=700000000 + n) for n in (1, 2))
    try:
        await bot.start()
        async with aiohttp.ClientSession() as session:
            assert await post(session, bot.webhook, first.text_update("halo")) == 200
            await until(lambda: len(answers(fake, first)) == 1, "the welcome")
            # Replies hang at Telegram: both turns are in flight when the signal comes.
            release = fake.hang("sendMessage")
            calls = len(fake.method_calls("sendMessage"))
            assert await post(session, bot.webhook, first.tap_update("lang:id")) == 200
            assert await post(session, bot.webhook, second.text_update("halo")) == 200
            await until(lambda: len(fake.method_calls("sendMessage")) >= calls + 2, "both replies to hang")
            bot.signal(signum)
            signalled = time.monotonic()
            # No new work: the port is closed (Telegram keeps the update and sends it again).
            await asyncio.sleep(0.5)
            assert await post(session, bot.webhook, second.tap_update("lang:id"), timeout=2) is None
            assert bot.process is not None and bot.process.returncode is None, "exited with turns in flight"
            # Telegram answers again (the hung requests fail, the sender retries them).
            fake.hanging.pop("sendMessage")
            release.set()
            assert await bot.wait(timeout=15) == 0, bot.tail()
        stopped_after = time.monotonic() - signalled
        assert stopped_after < 10, f"took {stopped_after:.1f} s"
        assert "consent.prompt" in keys_of(catalog, answers(fake, first)[-1]), answers(fake, first)
        assert len(answers(fake, second)) == 1 and "welcome" in keys_of(catalog, answers(fake, second)[0])
        assert unfinished(database) == 0
        assert "Traceback" not in bot.tail(20000), bot.tail()
    finally:
        await bot.kill()


async def test_what_cannot_finish_within_the_grace_is_left_for_the_next_start(
        fake: FakeTelegram, tmp_path: Path) -> None:
    """A turn stuck before its commit (the attached file's download hangs at Telegram) is
    cancelled when the grace is over: the process still exits 0, and the update, recorded but
    unfinished, is handled once at the next start."""
    bot, database = deployment(fake, tmp_path, grace=1.5)
    catalog = Catalog.load()
    person = TgPerson(fake, catalog, settle=None)
    try:
        await bot.start()
        async with aiohttp.ClientSession() as session:
            release = fake.hang("getFile")
            assert await post(session, bot.webhook, person.document_update("data.csv", b"a,b\n1,2\n")) == 200
            await until(lambda: fake.method_calls("getFile"), "the download to hang")
            bot.signal(signal.SIGTERM)
            signalled = time.monotonic()
            assert await bot.wait(timeout=15) == 0, bot.tail()
            stopped_after = time.monotonic() - signalled
            # Cancelled, not lost: the update is recorded and unfinished.
            assert unfinished(database) == 1
            assert answers(fake, person) == []
            fake.hanging.pop("getFile")
            release.set()
            await bot.start()
            await until(lambda: answers(fake, person), "the answer after the restart")
            await asyncio.sleep(1.0)  # anything sent twice would arrive by now
            # One turn's answer (the "please type" note and the welcome), once.
            said = [keys_of(catalog, text) for text in answers(fake, person)]
            assert len(said) == 2 and sum("welcome" in keys for keys in said) == 1, said
            assert unfinished(database) == 0
        assert 1.5 <= stopped_after < 5, f"took {stopped_after:.1f} s"
    finally:
        await bot.kill()
