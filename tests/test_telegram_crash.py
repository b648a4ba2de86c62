"""A bot process killed in the middle of an update (SIGKILL, no clean-up) handles that update
after a restart, once: the update was recorded before Telegram was told it arrived.

One real `python -m bot run` (long polling, SQLite file) against the fake Bot API server in this
test process, started twice."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from tests.fake_telegram import TOKEN, FakeTelegram, TgPerson, keys_of

pytestmark = pytest.mark.slow
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bot_process(fake: FakeTelegram, database: Path, key: str, log: Path) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("TELEGRAM_", "WHATSAPP_", "DATABASE_", "LOCK_", "REDIS_"))}
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=fake.url, DATABASE_URL=f"sqlite:///{database}",
               BOT_SECRET_KEY=key, PORT=str(free_port()), LOG_LEVEL="INFO")
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=PROJECT_ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def until(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def unfinished(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM inbound_update WHERE handled_at IS NULL").fetchone()[0]


async def test_an_update_recorded_before_a_crash_is_handled_once_after_restart(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    database, key, log = tmp_path / "bot.sqlite3", secrets.token_urlsafe(48), tmp_path / "bot.log"
    from conversations.i18n import Catalog

    catalog = Catalog.load()
    person = TgPerson(fake, catalog, settle=None)
    chat = person.user_id

    def answered() -> list[str]:
        return [c.text for c in fake.answered if c.chat_id == chat]

    process = bot_process(fake, database, key, log)
    try:
        await until(lambda: fake.method_calls("getUpdates"), "the first process to poll")
        fake.push(person.text_update("halo"))
        await until(lambda: len(answered()) == 1, "the welcome")

        # The reply to the next update hangs at Telegram: the person's drain is stuck in it, so
        # the update after that is recorded (and confirmed to Telegram) but not handled.
        fake.hang("sendMessage")
        fake.push(person.tap_update("lang:id"))
        await until(lambda: len(fake.method_calls("sendMessage")) == 2, "the hanging reply")
        stranded = person.tap_update("consent:yes")
        fake.push(stranded)
        await until(lambda: fake.confirmed_offset > stranded["update_id"], "the update to be recorded")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert unfinished(database) == 1

        fake.hanging.pop("sendMessage").set()
        before = len(answered())
        process = bot_process(fake, database, key, log)
        await until(lambda: len(answered()) > before + 1, "the recovered update's answer")
        await asyncio.sleep(1.5)  # anything sent twice would arrive by now
        after = answered()[before:]
        # The reply that hung when the process died was committed with its turn: it is sent
        # again, first, and then the answer to the update that was never handled.
        assert len(after) == 2, after
        assert "consent.prompt" in keys_of(catalog, after[0])
        assert "elig.domicile" in keys_of(catalog, after[1])
        assert unfinished(database) == 0
    finally:
        process.kill()
        process.wait(timeout=10)
        await fake.stop()
        sys.stderr.write(log.read_text(errors="replace")[-3000:] if log.exists() else "")
