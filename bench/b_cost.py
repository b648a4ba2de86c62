"""Cost of running it: memory after start and after 10,000 turns, and the time to /healthz.

Two real processes against the same fake Bot API (tests/fake_telegram.py), measured in the same
run: `python -m bot run` (webhook mode, SQLite, the shipped config.yaml with the sender's rate
limits lifted) and a bare aiogram echo bot (bench/echo_process.py: Dispatcher +
SimpleRequestHandler, the least any bot on this stack costs). For each: the seconds from the
process's start until GET /healthz answers 200, its resident memory (RSS) once started and idle,
and its RSS after 10,000 turns (100 people writing 100 messages each, every person waiting for
the answer before the next message, as a person does). The goals (docs/deploy.md, "Cost"): idle
memory at most 1.3 times the echo's, /healthz within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from aiohttp import ClientError, ClientSession, ClientTimeout

from bot.config import PROJECT_ROOT
from tests.bot_process import BotProcess, free_port, write_config
from tests.fake_telegram import SECRET, FakeTelegram, TgPerson

TEXTS = ("halo", "apa ini", "saya mau daftar", "bagaimana caranya", "terima kasih", "info bpjs")
# The Telegram sender's limits lifted (as tests/fake_telegram.fast_limits): the pipeline is
# measured, not Telegram's 30 messages a second.
FAST_TELEGRAM = {"poll_timeout_seconds": 1, "per_chat_interval_seconds": 0.001, "per_chat_burst": 50,
                 "messages_per_second": 1000, "backoff_seconds": 0.05, "recover_every_seconds": 3600}
SETTLE_SECONDS = 2.0
ANSWER_TIMEOUT = 60.0


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def wait_healthy(url: str, process: asyncio.subprocess.Process, began: float) -> float:
    """Seconds from `began` until GET `url` answers 200."""
    async with ClientSession(timeout=ClientTimeout(total=2)) as session:
        while time.monotonic() - began < 120:
            if process.returncode is not None:
                raise RuntimeError(f"the process exited at start ({process.returncode})")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.monotonic() - began
            except (ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} never answered 200")


async def converse(fake: FakeTelegram, webhook: str, people: int, messages: int, first_id: int) -> dict[str, Any]:
    """`people` x `messages` turns; each person waits for an answer before writing again."""
    missing = 0
    ids = itertools.count(first_id)

    async def person(session: ClientSession, user_id: int) -> None:
        nonlocal missing
        who = TgPerson(fake, None, None, user_id=user_id)  # type: ignore[arg-type]
        for n in range(messages):
            arrived = fake.delivered_to(user_id, fake.delivered[user_id] + 1)
            async with session.post(webhook, json=who.text_update(TEXTS[n % len(TEXTS)]),
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                await response.read()
            try:
                await asyncio.wait_for(arrived, ANSWER_TIMEOUT)
            except asyncio.TimeoutError:
                missing += 1

    started = time.monotonic()
    async with ClientSession() as session:
        await asyncio.gather(*(person(session, next(ids)) for _ in range(people)))
    elapsed = time.monotonic() - started
    return {"turns": people * messages, "turns_per_s": round(people * messages / elapsed, 1), "unanswered": missing}


async def measure_echo(fake: FakeTelegram, people: int, messages: int) -> dict[str, Any]:
    port = free_port()
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.echo_process", "--api", fake.url, "--port", str(port), "--secret", SECRET,
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        ready = await wait_healthy(f"http://127.0.0.1:{port}/healthz", process, began)
        await asyncio.sleep(SETTLE_SECONDS)
        idle = rss_mb(process.pid)
        done = await converse(fake, f"http://127.0.0.1:{port}/telegram/webhook", people, messages, 500_000_000)
        await asyncio.sleep(SETTLE_SECONDS)
        return {"start_to_healthz_s": round(ready, 2), "rss_idle_mb": idle, "rss_after_turns_mb": rss_mb(process.pid),
                **done}
    finally:
        process.terminate()
        await process.wait()


async def measure_ours(fake: FakeTelegram, people: int, messages: int, folder: Path) -> dict[str, Any]:
    bot = BotProcess(fake, f"sqlite:///{folder / 'bot.sqlite3'}", secrets.token_urlsafe(48),
                     write_config(folder / "config.yaml", telegram=FAST_TELEGRAM), folder / "bot.log")
    # The first start creates and migrates the database: not what a restart costs. Started once
    # before, so the start measured is a service's ordinary (re)start.
    await bot.start()
    bot.signal(15)
    await bot.wait(60)
    ready = await bot.start()
    assert bot.process is not None
    try:
        await asyncio.sleep(SETTLE_SECONDS)
        idle = rss_mb(bot.process.pid)
        done = await converse(fake, bot.webhook, people, messages, 600_000_000)
        await asyncio.sleep(SETTLE_SECONDS)
        return {"start_to_healthz_s": round(ready, 2), "rss_idle_mb": idle,
                "rss_after_turns_mb": rss_mb(bot.process.pid), **done}
    finally:
        bot.signal(15)
        await bot.wait(60)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    people, messages = (3, 5) if args.quick else (100, 100)  # 10,000 turns
    fake = FakeTelegram()
    await fake.start()
    try:
        echo = await measure_echo(fake, people, messages)
        with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
            ours = await measure_ours(fake, people, messages, Path(tmp))
    finally:
        await fake.stop()
    return [
        {"name": "aiogram echo process (baseline)", **echo},
        {"name": "python -m bot run (webhook, sqlite)", **ours,
         "rss_idle_vs_echo": round(ours["rss_idle_mb"] / echo["rss_idle_mb"], 2),
         "rss_after_turns_vs_echo": round(ours["rss_after_turns_mb"] / echo["rss_after_turns_mb"], 2)},
    ]
