"""Campaigns: enqueue a broadcast to 50,000 people, then send at the platform limits.

For each database (SQLite file; PostgreSQL in a throw-away database if reachable): 50,000
Telegram and 50,000 WhatsApp people; per scenario (Telegram 30/s, WhatsApp 80/s and 1,000/s),
a broadcast to one channel is launched (time to enqueue: one INSERT ... SELECT) and the worker
sends for a bounded window (at 30/s, 50,000 messages take ~28 minutes) to a fake platform on
127.0.0.1 over HTTP. The achieved rate is measured on the platform's clock and reported as a
fraction of the configured limit (the worker paces at limit x rate_headroom = 0.95). Peak RSS
of the process while the worker runs is reported as the worker's memory.
--quick: 500 people, 2-second windows.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import insert

from bench.common import PeakMemory, bench_environment, sqlite_url, throwaway_postgres
from bot.app import build_services
from bot.worker import run_worker
from handlers.campaigns import control, launch
from handlers.clock import SystemClock
from handlers.outbox import DeliveryRules
from handlers.services import Services
from storage.models import Person
from storage.outbox import Campaign
from tests.fake_platform import FakePlatform, HttpSender

SCENARIOS = (("tg", 30), ("wa", 80), ("wa", 1000))


async def add_people(svc: Services, people: int) -> None:
    now = svc.clock.now()
    async with svc.db.session() as session:
        for channel in ("tg", "wa"):
            for start in range(0, people, 10_000):
                await session.execute(insert(Person), [
                    {"channel_user": f"{channel}:{6281200000000 + n}", "lang": "id", "created_at": now,
                     "opted_out": False, "unreachable": False, "failed_deliveries": 0}
                    for n in range(start, min(people, start + 10_000))])
        await session.commit()


async def new_campaign(svc: Services, channel: str) -> tuple[int, float]:
    """A broadcast to every person of one channel; returns (id, seconds to enqueue)."""
    now = svc.clock.now()
    async with svc.db.session() as session:
        campaign = Campaign(created_by="tg:1", created_at=now, updated_at=now, state="scheduled", scheduled_at=now,
                            text_id="Kerja Keras Bebas Cemas: JKK dan JKM, Rp 16.800 sebulan dibayar nagari.",
                            audience={"channel": [channel]})
        session.add(campaign)
        await session.flush()
        assert campaign.id is not None
        started = time.perf_counter()
        await launch(session, svc, campaign.id, now)
        await session.commit()
        return campaign.id, time.perf_counter() - started


async def send_window(svc: Services, platform: FakePlatform, channel: str, limit: int, window: float) -> tuple[float, int]:
    """Run the worker for `window` seconds of sending; (achieved rate, peak RSS bytes)."""
    svc.config.delivery = DeliveryRules(
        quiet_start=clock_time(0), quiet_end=clock_time(0),
        batch_size=min(1000, limit * 2), concurrency=64, poll_seconds=0.05)
    # The channel's one pacing is its sender's, as with the real Telegram and WhatsApp senders.
    previous = svc.senders[channel]
    svc.senders[channel] = HttpSender(channel, platform.url, svc.config.delivery.share(limit))
    platform.received.clear()
    stop = asyncio.Event()
    with PeakMemory() as memory:
        worker = asyncio.create_task(run_worker(svc, "bench", stop, scheduler=False))
        while not platform.received:
            await asyncio.sleep(0.01)
        await asyncio.sleep(window)
        stop.set()
        await worker
    await svc.senders[channel].close()
    svc.senders[channel] = previous
    first = platform.received[0][0]
    in_window = sum(1 for t, _, _ in platform.received if t - first < window)
    return in_window / window, memory.peak


async def bench_database(label: str, url: str, args: argparse.Namespace, tmp: Path) -> list[dict]:
    people = 500 if args.quick else 50_000
    window = 2.0 if args.quick else 20.0
    svc = await build_services(None, url, clock=SystemClock(), env=bench_environment(tmp))
    platform = FakePlatform()
    await platform.start()
    senders = {channel: HttpSender(channel, platform.url) for channel in ("tg", "wa")}
    svc.senders.update(senders)
    rows = []
    try:
        await add_people(svc, people)
        for channel, limit in SCENARIOS:
            campaign_id, enqueue_s = await new_campaign(svc, channel)
            rate, peak = await send_window(svc, platform, channel, limit, window)
            async with svc.db.session() as session:
                await control(session, campaign_id, "stop", svc.clock.now())
                await session.commit()
            rows.append({"name": f"broadcast {channel} {limit}/s", "database": label, "people": people,
                         "enqueue_s": round(enqueue_s, 2), "window_s": window, "sent_per_s": round(rate, 1),
                         "fraction_of_limit": round(rate / limit, 3), "peak_rss_mb": round(peak / 2**20, 1)})
    finally:
        for sender in senders.values():
            await sender.close()
        await platform.stop()
        await svc.db.dispose()
    return rows


async def run(args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-campaigns-") as tmp:
        rows += await bench_database("sqlite", sqlite_url(Path(tmp)), args, Path(tmp))
        async with throwaway_postgres(args.postgres) as url:
            if url is None:
                rows.append({"name": "broadcast", "database": "postgresql", "skipped": "unreachable"})
            else:
                rows += await bench_database("postgresql", url, args, Path(tmp))
    return rows
