"""A real `python -m bot run` in a subprocess, serving the Telegram webhook against the fake Bot
API server of the test process (tests/fake_telegram.py): for tests that stop, kill and restart
the bot from outside, as a deploy or a crash would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.config import DEFAULT_CONFIG, PROJECT_ROOT
from tests.fake_telegram import SECRET, TOKEN, FakeTelegram

START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, **sections: dict[str, Any]) -> Path:
    """config.yaml with some sections' values overridden (merged key by key)."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for name, values in sections.items():
        config[name] = {**(config.get(name) or {}), **values}
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class BotProcess:
    """One deployment of the bot (database, key, config, port) that can be started many times."""

    fake: FakeTelegram
    database_url: str
    key: str
    config: Path
    log: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"

    def environ(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("TELEGRAM_", "WHATSAPP_", "DATABASE_", "LOCK_", "REDIS_", "BOT_"))}
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=self.fake.url, TELEGRAM_WEBHOOK_SECRET=SECRET,
                   DATABASE_URL=self.database_url, BOT_SECRET_KEY=self.key, BOT_CONFIG=str(self.config),
                   PORT=str(self.port), LOG_LEVEL="INFO", **self.extra_env)
        return env

    async def start(self) -> float:
        """Start and wait until /healthz answers; returns the seconds that took."""
        began = time.monotonic()
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=PROJECT_ROOT, env=self.environ(),
                stdout=log, stderr=asyncio.subprocess.STDOUT)
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - began < START_TIMEOUT:
                assert self.process.returncode is None, f"the bot exited at start:\n{self.tail()}"
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return time.monotonic() - began
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"the bot did not start:\n{self.tail()}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


async def post(session: aiohttp.ClientSession, url: str, update: dict[str, Any],
               timeout: float = 10.0) -> int | None:
    """POST one update as Telegram does; the status, or None when nothing answered (connection
    refused or dropped, timed out): Telegram then sends the same update again later."""
    try:
        async with session.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None


__all__ = ["BotProcess", "free_port", "post", "write_config", "sys"]
