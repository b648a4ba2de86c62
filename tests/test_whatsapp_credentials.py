"""WhatsApp credentials are checked once at start, by reading our phone number with the token
(the fake Graph API answers as Meta does, refusals included): a refused token or an unknown
number stops the start with one line naming the variable -- exit 2 from the command line --
instead of /healthz saying ok until the first send fails."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.commands import CHANNELS
from bot.config import ConfigError
from bot.server import build_app
from handlers.services import Services
from tests.fake_graph import FakeGraph, environ

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_good_credentials_start_and_are_read_once(svc: Services) -> None:
    graph = FakeGraph()
    await graph.start()
    try:
        app, channels = await build_app(svc, environ(graph.url), {"wa": CHANNELS["wa"]})
        assert graph.phone_lookups == 1
        for channel in channels:
            if channel.close:
                await channel.close()
    finally:
        await graph.stop()


@pytest.mark.parametrize(("variable", "value"), [("WHATSAPP_ACCESS_TOKEN", "EAA-revoked-or-mistyped"),
                                                 ("WHATSAPP_PHONE_NUMBER_ID", "999999999999999")])
async def test_refused_credentials_stop_the_start_naming_the_variable(svc: Services, variable: str, value: str) -> None:
    graph = FakeGraph()
    await graph.start()
    try:
        with pytest.raises(ConfigError) as refused:
            await build_app(svc, {**environ(graph.url), variable: value}, {"wa": CHANNELS["wa"]})
        message = str(refused.value)
        assert variable in message and "\n" not in message and value not in message
    finally:
        await graph.stop()


async def test_the_command_line_refuses_in_one_line_with_exit_2(tmp_path: Path) -> None:
    graph = FakeGraph()
    await graph.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WHATSAPP_", "DATABASE_"))}
        env |= environ(graph.url) | {"WHATSAPP_ACCESS_TOKEN": "EAA-wrong", "PORT": str(free_port()), "BOT_SECRET_KEY": "k" * 48,
                                     "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}", "LOG_LEVEL": "WARNING"}
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=PROJECT, env=env,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                       stdin=asyncio.subprocess.DEVNULL)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        lines = [line for line in err.decode().splitlines() if line.strip()]
        assert process.returncode == 2, err.decode()[-2000:]
        assert len(lines) == 1 and "WHATSAPP_ACCESS_TOKEN" in lines[0] and "Traceback" not in err.decode()
    finally:
        await graph.stop()
