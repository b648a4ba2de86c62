"""Telegram full path: webhook POST in -> recorded -> handled -> reply out at the fake Bot API.

People walk the first steps of the registration at the same time (each waits for the bot's
answer before the next step, as a person does), on SQLite and on PostgreSQL. In the same run and
against the same fake server, a bare aiogram echo bot (Dispatcher + SimpleRequestHandler + a
handler answering message.text) is measured the same way: the ratio is what recording before
acknowledging, ordering, the conversation and its storage cost over aiogram alone.

The sender's rate limits are lifted (fast_limits) so the numbers show the pipeline, not
Telegram's 30 messages/s, which a real deployment keeps to.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from bench.common import bench_environment, local_site, p50_p99_ms, sqlite_url, throwaway_postgres
from bot.app import build_services
from tests.fake_telegram import SECRET, FakeTelegram, TgPerson, running_bot

ECHO_TOKEN = "987654321:AAEchoBotTokenForBenchmarks-abcdef"
STEPS = (("say", "halo"), ("tap", "lang:id"), ("tap", "consent:yes"), ("tap", "yn:yes"))
Post = Callable[[dict[str, Any]], Awaitable[None]]


Steps = tuple[tuple[str, str], ...]


async def walk(fake: FakeTelegram, person: TgPerson, post: Post, script: list[tuple[dict[str, Any], int]],
               latencies: list[float]) -> None:
    """One person: each update POSTed, then wait until all of its answers have arrived."""
    expected = fake.delivered[person.user_id]
    for update, answers in script:
        expected += answers
        arrived = fake.delivered_to(person.user_id, expected)
        started = time.monotonic()
        await post(update)
        latencies.append(await arrived - started)


def script_for(person: TgPerson, steps: Steps, answers: list[int]) -> list[tuple[dict[str, Any], int]]:
    updates = [person.text_update(v) if kind == "say" else person.tap_update(v) for kind, v in steps]
    return list(zip(updates, answers))


async def measure(fake: FakeTelegram, url: str, people: int, steps: Steps, answers: list[int],
                  first_id: int) -> dict[str, Any]:
    latencies: list[float] = []
    async with ClientSession() as session:
        async def post(update: dict[str, Any]) -> None:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with session.post(url, json=update, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status

        crowd = [TgPerson(fake, None, None, user_id=first_id + n) for n in range(people)]  # type: ignore[arg-type]
        started = time.monotonic()
        await asyncio.gather(*(walk(fake, p, post, script_for(p, steps, answers), latencies) for p in crowd))
        elapsed = time.monotonic() - started
    return {
        "people": people,
        "updates": len(latencies),
        "updates_per_s": round(len(latencies) / elapsed, 1),
        **p50_p99_ms(latencies),
    }


async def our_bot(fake: FakeTelegram, db_url: str, people: int, tmp: Path, first_id: int) -> dict[str, Any]:
    svc = await build_services(None, db_url, env=bench_environment(tmp))
    try:
        async with running_bot(svc, fake, webhook=True) as bot:
            # A warm-up person learns how many messages answer each step (the flow decides).
            probe = bot.person(user_id=first_id - 1)
            answers = [len(await (probe.say(v) if kind == "say" else probe.tap(v, check=False))) for kind, v in STEPS]
            return await measure(fake, bot.webhook or "", people, STEPS, answers, first_id)
    finally:
        await svc.db.dispose()


async def echo_bot(fake: FakeTelegram, people: int, first_id: int) -> dict[str, Any]:
    """The baseline: aiogram's own webhook handling and one answer, nothing else."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET).register(app, path="/echo")
    steps = tuple(("say", f"pesan {n}") for n in range(len(STEPS)))
    try:
        async with local_site(app) as base:
            return await measure(fake, f"{base}/echo", people, steps, [1] * len(steps), first_id)
    finally:
        await bot.session.close()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    people = 3 if args.quick else 50
    fake = FakeTelegram()
    await fake.start()
    rows: list[dict[str, Any]] = []
    try:
        echo = await echo_bot(fake, people, first_id=500000000)
        rows.append({"name": "telegram aiogram echo (baseline)", "database": "-", **echo})
        with tempfile.TemporaryDirectory(prefix="bench-tg-") as tmp:
            async with throwaway_postgres(args.postgres) as postgres:
                databases = [("sqlite", sqlite_url(Path(tmp)))]
                if postgres:
                    databases.append(("postgresql", postgres))
                else:
                    rows.append({"name": "telegram full path", "database": "postgresql", "skipped": "unreachable"})
                for number, (kind, url) in enumerate(databases):
                    ours = await our_bot(fake, url, people, Path(tmp), first_id=510000000 + number * 1000000)
                    rows.append({
                        "name": "telegram full path", "database": kind, **ours,
                        "p50_vs_echo": round(ours["p50_ms"] / echo["p50_ms"], 1),
                        "throughput_vs_echo": round(ours["updates_per_s"] / echo["updates_per_s"], 2),
                    })
    finally:
        await fake.stop()
    return rows
