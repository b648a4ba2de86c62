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
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import PeakMemory, bench_environment, p50_p99_ms, sqlite_url, throwaway_postgres
from bot.app import build_services
from conversations.events import ButtonPress, Inbound, Text
from handlers.clock import LOCAL_TZ, FixedClock
from handlers.router import dispatch
from handlers.services import Services
from storage.models import Registration

PEOPLE = 200
QUICK_PEOPLE = 10
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=LOCAL_TZ)


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


async def measure(url: str, database: str, people: int, workdir: Path) -> dict[str, Any]:
    svc = await build_services(None, url, clock=FixedClock(NOW), env=bench_environment(workdir))
    try:
        # One person alone first: the handling time of a message with nobody queued before it.
        solo: list[float] = []
        await person(svc, people, solo)
        timings: list[float] = []
        with PeakMemory() as memory:
            started = time.perf_counter()
            await asyncio.gather(*(person(svc, i, timings) for i in range(people)))
            elapsed = time.perf_counter() - started
        async with svc.db.session() as session:
            stored = (await session.execute(select(func.count()).select_from(Registration))).scalar_one()
    finally:
        await svc.db.dispose()
    return {
        "name": "registration", "database": database, "people": people, "messages": len(timings),
        "msgs_per_s": round(len(timings) / elapsed, 1), **p50_p99_ms(timings),
        "solo_p50_ms": round(statistics.median(solo) * 1000, 1),
        "peak_rss_mb": round(memory.peak / 2**20, 1), "stored": stored - 1, "seconds": round(elapsed, 2),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    people = QUICK_PEOPLE if args.quick else PEOPLE
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-registration-") as tmp:
        workdir = Path(tmp)
        rows.append(await measure(sqlite_url(workdir), "sqlite", people, workdir))
        async with throwaway_postgres(args.postgres) as url:
            if url is None:
                rows.append({"name": "registration", "database": "postgresql", "skipped": "server unreachable"})
            else:
                rows.append(await measure(url, "postgresql", people, workdir))
    return rows
