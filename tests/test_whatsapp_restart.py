"""A process killed with an update recorded but unfinished handles it after restart, exactly once.

`python -m bot run` serves the WhatsApp webhook against the fake Graph API. The fake holds the
first reply unanswered, so handling of the person's first message is stuck in delivery while
their second message is recorded (200) but not handled; then SIGKILL. After a restart the
inbox sweep handles the second message once; Meta's redelivery of it changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from conversations.i18n import Catalog
from tests.fake_graph import FakeGraph, Meta, environ, message

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_bot(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=PROJECT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            assert process.returncode is None, "the bot exited at start"
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not start")


async def until(condition, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def pending(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT update_key FROM inbound_update WHERE handled_at IS NULL")]


async def test_killed_mid_update_is_handled_after_restart(tmp_path: Path) -> None:
    graph = FakeGraph()
    await graph.start()
    port, db = free_port(), tmp_path / "bot.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WHATSAPP_", "DATABASE_"))}
    env |= environ(graph.url) | {"PORT": str(port), "DATABASE_URL": f"sqlite:///{db}", "LOG_LEVEL": "WARNING",
                                 "BOT_SECRET_KEY": "k" * 48}
    catalog = Catalog.load()
    consent = catalog.text("id", "consent.prompt").splitlines()[0]
    first, second = message(text="halo"), message("button_reply", choice="lang:id")
    process = await start_bot(env, port)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            meta = Meta(client)
            graph.hold()
            assert (await meta.post(first)).status == 200
            await until(lambda: len(graph.sent) == 1)  # the welcome is stuck in delivery
            assert (await meta.post(second)).status == 200
            assert pending(db) == [second["entry"][0]["changes"][0]["value"]["messages"][0]["id"]]
        process.send_signal(signal.SIGKILL)
        await process.wait()
        graph.release()
        before = len(graph.sent)

        process = await start_bot(env, port)
        await until(lambda: any(consent in r.text for r in graph.sent[before:]))
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            assert (await Meta(client).post(second)).status == 200  # Meta redelivers it
        await asyncio.sleep(1)
        after = graph.sent[before:]
        assert sum(consent in r.text for r in after) == 1
        # The welcome was committed with the first turn and stuck in delivery when the process
        # died: it is sent again (in flight, so at most twice), before the answer to the second.
        # The first update itself is not handled again: its answer is not sent a third time.
        welcomes = [n for n, r in enumerate(after) if r.choice_ids == ["lang:id", "lang:en"]]
        assert len(welcomes) == 1 and welcomes[0] < next(n for n, r in enumerate(after) if consent in r.text)
        assert pending(db) == []
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
        await graph.stop()
