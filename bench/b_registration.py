"""Registration core: N people register at once through handlers.router.dispatch (SQLite, PostgreSQL).

Each simulated person sends the messages of a complete registration one after another (as a
person waits for each answer); all people run concurrently. Reported per database: inbound
messages per second, p50/p99 handling time of one message (ms, including the wait behind other
people's messages), the p50 of one person registering alone first, peak RSS of the process (MB),
and how many of the N registrations were stored (must be N).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil
from sqlalchemy import func, select

from bot.app import build_services
from bot.config import Environment
from conversations.events import ButtonPress, Inbound, Text
from handlers.clock import LOCAL_TZ, FixedClock
from handlers.router import dispatch
from handlers.services import Services
from storage.models import Registration

PEOPLE = 200
QUICK_PEOPLE = 10
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=LOCAL_TZ)
# How often peak memory is sampled while the people register.
RSS_SAMPLE_SECONDS = 0.05


def nik_of(index: int) -> str:
    """A valid, distinct NIK per person: 1303 05, born 1975-1994, serial from 0001."""
    day, month, year = 1 + index % 28, 1 + index // 28 % 12, 75 + index // 336 % 20
    return f"130305{day:02d}{month:02d}{year:02d}{1 + index % 9999:04d}"


def script(index: int) -> list[Inbound]:
    """The messages of one complete registration, in the default language."""
    taps = lambda *ids: [ButtonPress(i) for i in ids]  # noqa: E731
    return [
        Text("halo"), *taps("lang:id", "consent:yes", "yn:yes", "member:no", "work:own", "cat:pedagang"),
        Text("Siti Rahmah"), Text(nik_of(index)), *taps("yn:yes"), Text("Muaro"), Text("Koto Tuo"),
        Text(f"0812-{3000 + index % 7000:04d}-{index:04d}"), *taps("inc:1000000", "heir:skip", "sum:send"),
    ]


async def person(svc: Services, index: int, timings: list[float]) -> None:
    user = f"tg:{100000 + index}"
    for event in script(index):
        started = time.perf_counter()
        await dispatch(svc, user, event)
        timings.append(time.perf_counter() - started)


async def peak_rss(stop: asyncio.Event) -> int:
    process, peak = psutil.Process(), 0
    while not stop.is_set():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(RSS_SAMPLE_SECONDS)
    return max(peak, process.memory_info().rss)


async def measure(url: str, database: str, people: int, workdir: Path) -> dict[str, Any]:
    env = Environment(secret_key=secrets.token_urlsafe(48), secret_key_file=workdir / "unused.key")
    svc = await build_services(None, url, clock=FixedClock(NOW), env=env)
    try:
        # One person alone first: the handling time of a message with nobody queued before it.
        solo: list[float] = []
        await person(svc, people, solo)
        timings: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(peak_rss(stop))
        started = time.perf_counter()
        await asyncio.gather(*(person(svc, i, timings) for i in range(people)))
        elapsed = time.perf_counter() - started
        stop.set()
        peak = await sampler
        async with svc.db.session() as session:
            stored = (await session.execute(select(func.count()).select_from(Registration))).scalar_one()
    finally:
        await svc.db.dispose()
    ordered = sorted(timings)
    return {
        "name": "registration", "database": database, "people": people, "messages": len(timings),
        "msgs_per_s": round(len(timings) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "solo_p50_ms": round(statistics.median(solo) * 1000, 1),
        "peak_rss_mb": round(peak / 2**20, 1), "stored": stored - 1, "seconds": round(elapsed, 2),
    }


@asynccontextmanager
async def throwaway_postgres(server: str) -> AsyncIterator[str | None]:
    """A fresh database on the server, dropped afterwards; None when the server is unreachable."""
    import asyncpg

    admin_url = server.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(admin_url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        yield None
        return
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlparse(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    people = QUICK_PEOPLE if args.quick else PEOPLE
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-registration-") as tmp:
        workdir = Path(tmp)
        rows.append(await measure(f"sqlite:///{workdir / 'bench.sqlite3'}", "sqlite", people, workdir))
        async with throwaway_postgres(args.postgres) as url:
            if url is None:
                rows.append({"name": "registration", "database": "postgresql", "skipped": "server unreachable"})
            else:
                rows.append(await measure(url, "postgresql", people, workdir))
    return rows
