"""Telegram full path: webhook POST in -> recorded -> one turn -> reply out at the fake Bot API.

People walk the first steps of the registration at the same time (each waits for the bot's
answer before the next step, as a person does), on SQLite and on PostgreSQL, with the routes
`python -m bot run` uses (handlers/router.ROUTES: there is no other set). In the same run and
against the same fake server, a bare aiogram echo bot (Dispatcher + SimpleRequestHandler + a
handler answering message.text) is measured the same way: the ratio is what recording before
acknowledging, ordering, the conversation, its storage and the outbox cost over aiogram alone.

Rounds interleave echo and ours (echo, every variant, echo, every variant, ...) and the ratio
reported is the median of the rounds' ratios (5 rounds; `--rounds N`), with every round's ratio
beside it to show the noise: one short round moves by +-0.3 on shared cores. Each row also gives
the CPU time this process spent per update (`cpu_ms_per_update`: the load generator and the
fake Telegram run in it too, the same for echo and ours, so the difference is what our pipeline
costs; PostgreSQL's own CPU is not in it). Variants: SQLite and PostgreSQL with in-process
locks, PostgreSQL with LOCK_BACKEND=redis and =postgres, and a crowd of 200 people
(`--variants sqlite,postgresql`: only the first two).

A second baseline, reported beside the first and not instead of it: the same echo bot answering
each step with the very messages ours sends (their text and keyboards, captured from our bot
once). Its ratio separates what our pipeline costs from what our messages themselves cost
aiogram to send and Telegram (the fake) to take: a keyboard and a page of text are not "ok".

Each measurement first walks a warm-up crowd of 20 people through the same steps off the
clock, for the echo and for ours alike: what is measured is a bot in its steady state.

The sender's rate limits are lifted (fast_limits) so the numbers show the pipeline, not
Telegram's 30 messages/s, which a real deployment keeps to. The garbage collector is set up
once, before the first round, as the server sets it up after start-up (bot/heap.py): echo and
ours run under the same collector.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from bench.common import bench_environment, local_site, p50_p99_ms, sqlite_url, throwaway_postgres
from bot import heap
from bot.app import build_services
from tests.fake_telegram import SECRET, FakeTelegram, TgPerson, running_bot

ECHO_TOKEN = "987654321:AAEchoBotTokenForBenchmarks-abcdef"
STEPS = (("say", "halo"), ("tap", "lang:id"), ("tap", "consent:yes"), ("tap", "yn:yes"))
Post = Callable[[dict[str, Any]], Awaitable[None]]
# The warm-up crowd of each measurement (see `measure`), with ids of their own.
WARM_PEOPLE, WARM_OFFSET = 20, 500_000


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

        # A warm-up crowd first, off the clock, so that each round measures a bot in its steady
        # state, as a server is after its first minute: its connection pool, its connections to
        # Telegram and its caches are open and full, as the echo's are.
        warm = [TgPerson(fake, None, None, user_id=first_id + WARM_OFFSET + n)  # type: ignore[arg-type]
                for n in range(min(people, WARM_PEOPLE))]
        await asyncio.gather(*(walk(fake, p, post, script_for(p, steps, answers), []) for p in warm))
        crowd = [TgPerson(fake, None, None, user_id=first_id + n) for n in range(people)]  # type: ignore[arg-type]
        # The updates are built before the clock starts: reading fixtures is not the bot's work.
        scripts = [(p, script_for(p, steps, answers)) for p in crowd]
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(walk(fake, p, post, script, latencies) for p, script in scripts))
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    return {
        "people": people,
        "updates": len(latencies),
        "updates_per_s": round(len(latencies) / elapsed, 1),
        "cpu_ms_per_update": round(cpu * 1000 / len(latencies), 3),
        **p50_p99_ms(latencies),
    }


async def our_bot(fake: FakeTelegram, db_url: str, people: int, tmp: Path, first_id: int,
                  locks: str = "memory", redis_url: str = "") -> dict[str, Any]:
    environ = {"LOCK_BACKEND": os.environ.get("LOCK_BACKEND")}
    os.environ["LOCK_BACKEND"] = locks
    try:
        env = bench_environment(tmp)
        svc = await build_services(None, db_url, env=env.model_copy(update={"redis_url": redis_url}))
    finally:
        if environ["LOCK_BACKEND"] is None:
            os.environ.pop("LOCK_BACKEND", None)
        else:
            os.environ["LOCK_BACKEND"] = environ["LOCK_BACKEND"]
    try:
        async with running_bot(svc, fake, webhook=True) as bot:
            # A warm-up person learns how many messages answer each step (the flow decides).
            probe = bot.person(user_id=first_id - 1)
            answers = [len(await (probe.say(v) if kind == "say" else probe.tap(v, check=False))) for kind, v in STEPS]
            return await measure(fake, bot.webhook or "", people, STEPS, answers, first_id)
    finally:
        await svc.locks.close()
        await svc.db.dispose()


async def our_messages(fake: FakeTelegram, tmp: Path) -> list[list[dict[str, Any]]]:
    """What our bot sends at each step (the sendMessage parameters), from one person on a
    throw-away SQLite database: the second baseline's answers."""
    folder = tmp / "messages"
    folder.mkdir()
    svc = await build_services(None, sqlite_url(folder), env=bench_environment(folder))
    steps: list[list[dict[str, Any]]] = []
    try:
        async with running_bot(svc, fake, webhook=True) as bot:
            person = bot.person(user_id=400_000_000)
            for kind, value in STEPS:
                before = len(fake.sent(person.user_id))
                await (person.say(value) if kind == "say" else person.tap(value, check=False))
                steps.append([call.params for call in fake.sent(person.user_id)[before:]])
    finally:
        await svc.locks.close()
        await svc.db.dispose()
    return steps


async def echo_bot(fake: FakeTelegram, people: int, first_id: int,
                   messages: list[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The baseline: aiogram's own webhook handling and one answer, nothing else -- or, given
    `messages`, the answers our bot gives at each step (step n is the text "pesan n")."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.methods import SendMessage
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    dispatcher = Dispatcher()
    steps = tuple(("say", f"pesan {n}") for n in range(len(STEPS)))
    answers = [SendMessage.model_validate(params) for step in messages for params in step] if messages else []
    first_of_step = [sum(len(step) for step in (messages or [])[:n]) for n in range(len(steps))]

    @dispatcher.message()
    async def echo(message: Message) -> None:
        if not messages:
            await message.answer(message.text or "?")
            return
        n = int((message.text or "pesan 0").rpartition(" ")[2])
        for answer in answers[first_of_step[n]:first_of_step[n] + len(messages[n])]:
            await bot(answer.model_copy(update={"chat_id": message.chat.id}))

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET).register(app, path="/echo")
    counts = [len(step) for step in messages] if messages else [1] * len(steps)
    try:
        async with local_site(app) as base:
            return await measure(fake, f"{base}/echo", people, steps, counts, first_id)
    finally:
        await bot.session.close()


Variant = tuple[str, str, str, int]  # (label, database, lock backend, people)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    heap.settle()
    rounds = getattr(args, "rounds", None) or (1 if args.quick else 5)
    wanted = set(args.variants.split(",")) if getattr(args, "variants", None) else None
    people = 3 if args.quick else 100  # x 4 steps: 400 updates a round, 2,000 a variant
    crowd = 3 if args.quick else 200
    redis_url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")
    fake = FakeTelegram()
    await fake.start()
    results: dict[str, list[dict[str, Any]]] = {}
    ratios: dict[str, list[float]] = {}
    same_ratios: dict[str, list[float]] = {}
    rows: list[dict[str, Any]] = []
    first_id = iter(range(500_000_000, 900_000_000, 1_000_000))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tg-") as tmp:
            async with throwaway_postgres(args.postgres) as postgres:
                variants: list[Variant] = [("sqlite", "sqlite", "memory", people)]
                if postgres:
                    variants += [("postgresql", "postgresql", "memory", people),
                                 ("postgresql, redis locks", "postgresql", "redis", people),
                                 ("postgresql, postgres locks", "postgresql", "postgres", people),
                                 (f"sqlite, {crowd} people", "sqlite", "memory", crowd),
                                 (f"postgresql, {crowd} people", "postgresql", "memory", crowd)]
                else:
                    rows.append({"name": "telegram full path", "database": "postgresql", "skipped": "unreachable"})
                if wanted is not None:
                    variants = [variant for variant in variants if variant[0] in wanted]
                messages = await our_messages(fake, Path(tmp))
                for round_ in range(rounds):
                    echo = await echo_bot(fake, people, first_id=next(first_id))
                    results.setdefault("echo", []).append(echo)
                    same = await echo_bot(fake, people, next(first_id), messages)
                    results.setdefault("echo, our messages", []).append(same)
                    for label, database, locks, size in variants:
                        folder = Path(tmp) / f"r{round_}-{label.replace(' ', '_').replace(',', '')}"
                        folder.mkdir()
                        url = sqlite_url(folder) if database == "sqlite" else postgres
                        assert url is not None
                        if database == "postgresql":
                            await reset_postgres(url)
                        ours = await our_bot(fake, url, size, folder, next(first_id), locks, redis_url)
                        results.setdefault(label, []).append(ours)
                        ratios.setdefault(label, []).append(ours["updates_per_s"] / echo["updates_per_s"])
                        same_ratios.setdefault(label, []).append(ours["updates_per_s"] / same["updates_per_s"])
    finally:
        await fake.stop()
    rows.append({"name": "telegram aiogram echo (baseline)", "database": "-", **median_row(results["echo"])})
    rows.append({"name": "telegram aiogram echo sending our messages (second baseline)", "database": "-",
                 **median_row(results["echo, our messages"])})
    for label, measured in results.items():
        if label.startswith("echo"):
            continue
        rows.append({"name": "telegram full path", "variant": label, **median_row(measured),
                     "throughput_vs_echo_median": round(statistics.median(ratios[label]), 2),
                     "throughput_vs_echo_rounds": [round(r, 2) for r in ratios[label]],
                     "throughput_vs_echo_our_messages_median": round(statistics.median(same_ratios[label]), 2),
                     "throughput_vs_echo_our_messages_rounds": [round(r, 2) for r in same_ratios[label]]})
    return rows


def median_row(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds."""
    keys = [k for k, v in measured[0].items() if isinstance(v, (int, float))]
    return {k: round(statistics.median(m[k] for m in measured), 3 if k.startswith("cpu") else 1) for k in keys}


async def reset_postgres(url: str) -> None:
    """An empty schema for the next variant (the same throw-away database)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.db import normalize_url

    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()
